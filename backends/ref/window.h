#pragma once
// Index arithmetic of sliding windows (convolution and pooling), shared by forward and backward loops.
// Output position `o` with kernel tap `k` reads input coordinate i = o * stride - padding + k; inputs
// outside [0, size) are padding.
#include <cstdint>

namespace collapse::ref {

struct Window {
  int64_t kernel, stride, padding;

  int64_t input_index(int64_t out, int64_t tap) const { return out * stride - padding + tap; }

  // The output position whose tap `tap` reads input `in`, or -1 when no output does (the inverse of
  // input_index, for gradients that gather over outputs).
  int64_t output_index(int64_t in, int64_t tap, int64_t out_size) const {
    const int64_t shifted = in + padding - tap;
    if (shifted < 0 || shifted % stride != 0) return -1;
    const int64_t out = shifted / stride;
    return out < out_size ? out : -1;
  }
};

// fn(ih, iw, kh, kw) for every tap of output (oh, ow)'s window that lands inside the H x W input.
template <class Fn>
void for_each_tap_in_input(const Window& win, int64_t oh, int64_t ow, int64_t H, int64_t W, Fn&& fn) {
  for (int64_t kh = 0; kh < win.kernel; ++kh) {
    const int64_t ih = win.input_index(oh, kh);
    if (ih < 0 || ih >= H) continue;
    for (int64_t kw = 0; kw < win.kernel; ++kw) {
      const int64_t iw = win.input_index(ow, kw);
      if (iw < 0 || iw >= W) continue;
      fn(ih, iw, kh, kw);
    }
  }
}

// fn(oh, ow, kh, kw) for every output (oh, ow) of an Ho x Wo grid whose window reads input (ih, iw), and
// the tap it reads it with.
template <class Fn>
void for_each_output_reading(const Window& win, int64_t ih, int64_t iw, int64_t Ho, int64_t Wo, Fn&& fn) {
  for (int64_t kh = 0; kh < win.kernel; ++kh) {
    const int64_t oh = win.output_index(ih, kh, Ho);
    if (oh < 0) continue;
    for (int64_t kw = 0; kw < win.kernel; ++kw) {
      const int64_t ow = win.output_index(iw, kw, Wo);
      if (ow < 0) continue;
      fn(oh, ow, kh, kw);
    }
  }
}

}  // namespace collapse::ref
