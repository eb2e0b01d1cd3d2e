#include "data/bilinear_resize.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"

namespace collapse {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit images

// The input samples and weights behind each output index along one axis (Pillow's precompute_coeffs
// followed by normalize_coeffs_8bpc).
struct Taps {
  int64_t ksize = 0;
  std::vector<int64_t> first, count;
  std::vector<int32_t> weights;  // out_size x ksize
};

// Output sample `o` of an in_size -> out_size resize: its centre and the input samples [lo, hi) under the
// filter (Pillow's precompute_coeffs).
struct Support {
  double center = 0, filter_scale = 1;
  int64_t lo = 0, hi = 0;
};

Support support_of(int64_t in_size, int64_t out_size, int64_t o) {
  Support s;
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  s.filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * s.filter_scale;  // the triangle filter's support is 1
  s.center = (static_cast<double>(o) + 0.5) * scale;
  // Truncating casts, as in Pillow's C code.
  s.lo = std::max<int64_t>(static_cast<int64_t>(s.center - support + 0.5), 0);
  s.hi = std::min<int64_t>(static_cast<int64_t>(s.center + support + 0.5), in_size);
  return s;
}

Taps compute_taps(int64_t in_size, int64_t out_size) {
  Taps t;
  t.ksize = static_cast<int64_t>(std::ceil(support_of(in_size, out_size, 0).filter_scale)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(static_cast<size_t>(out_size * t.ksize), 0);
  std::vector<double> k(static_cast<size_t>(t.ksize));
  for (int64_t o = 0; o < out_size; ++o) {
    const Support s = support_of(in_size, out_size, o);
    const double inverse_scale = 1.0 / s.filter_scale;  // multiplied, not divided, as Pillow does
    const int64_t n = s.hi - s.lo;
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double x = std::abs((static_cast<double>(i + s.lo) - s.center + 0.5) * inverse_scale);
      k[i] = x < 1.0 ? 1.0 - x : 0.0;
      total += k[i];
    }
    for (int64_t i = 0; i < n; ++i) {
      const double v = total != 0.0 ? k[i] / total : 0.0;
      t.weights[o * t.ksize + i] =
          static_cast<int32_t>(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    t.first[o] = s.lo;
    t.count[o] = n;
  }
  return t;
}

uint8_t clip8(int32_t v) {
  if (v >= (1 << kPrecisionBits << 8)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// One input row, whose first pixel is column `src_x0` of the image, through the horizontal taps of the
// window's columns [x0, x0 + window_w). RGB (the image pipeline's case) has its own loop: three
// accumulators, no inner channel loop. (A 16-lane vector version, one load and one multiply per pixel, was
// bit-identical but made the pipeline 30% slower on an AVX-512 Xeon; perf put the time in the three lane
// extractions that end each pixel's chain.)
void horizontal_pass(const uint8_t* src, int64_t src_x0, const Taps& hx, int64_t x0, int64_t window_w, int64_t c,
                     uint8_t* dst) {
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);  // rounds to nearest
  for (int64_t x = 0; x < window_w; ++x) {
    const int64_t o = x0 + x;
    const int32_t* k = hx.weights.data() + o * hx.ksize;
    const uint8_t* s = src + (hx.first[o] - src_x0) * c;
    const int64_t n = hx.count[o];
    if (c == 3) {
      int32_t r = kHalf, g = kHalf, b = kHalf;
      for (int64_t i = 0; i < n; ++i) {
        r += s[3 * i] * k[i];
        g += s[3 * i + 1] * k[i];
        b += s[3 * i + 2] * k[i];
      }
      dst[3 * x] = clip8(r);
      dst[3 * x + 1] = clip8(g);
      dst[3 * x + 2] = clip8(b);
      continue;
    }
    for (int64_t ch = 0; ch < c; ++ch) {
      int32_t acc = kHalf;
      for (int64_t i = 0; i < n; ++i) acc += s[i * c + ch] * k[i];
      dst[x * c + ch] = clip8(acc);
    }
  }
}

}  // namespace

PixelRect resize_bilinear_source(int64_t w, int64_t h, int64_t out_w, int64_t out_h, PixelRect window) {
  // The supports move right with the output index, so the window's first and last outputs bound them.
  const Support left = support_of(w, out_w, window.x0), right = support_of(w, out_w, window.x0 + window.width - 1);
  const Support top = support_of(h, out_h, window.y0), bottom = support_of(h, out_h, window.y0 + window.height - 1);
  return {left.lo, top.lo, right.hi - left.lo, bottom.hi - top.lo};
}

void resize_bilinear_window(const uint8_t* in, PixelRect held, int64_t w, int64_t h, int64_t channels, int64_t out_w,
                            int64_t out_h, PixelRect window, uint8_t* out) {
  const int64_t x0 = window.x0, y0 = window.y0, window_w = window.width, window_h = window.height;
  COLLAPSE_CHECK(w > 0 && h > 0 && out_w > 0 && out_h > 0 && x0 >= 0 && y0 >= 0 && window_w > 0 && window_h > 0 &&
                     x0 + window_w <= out_w && y0 + window_h <= out_h,
                 "resize_bilinear_window: window [", x0, ", ", x0 + window_w, ") x [", y0, ", ", y0 + window_h,
                 ") of a ", w, "x", h, " -> ", out_w, "x", out_h, " resize");
  const PixelRect source = resize_bilinear_source(w, h, out_w, out_h, window);
  COLLAPSE_CHECK(held.x0 <= source.x0 && held.y0 <= source.y0 && source.x0 + source.width <= held.x0 + held.width &&
                     source.y0 + source.height <= held.y0 + held.height,
                 "resize_bilinear_window: the input holds columns [", held.x0, ", ", held.x0 + held.width,
                 ") and rows [", held.y0, ", ", held.y0 + held.height, ") of the image; the window reads columns [",
                 source.x0, ", ", source.x0 + source.width, ") and rows [", source.y0, ", ",
                 source.y0 + source.height, ")");
  const Taps hx = compute_taps(w, out_w);
  const Taps vy = compute_taps(h, out_h);
  // Only the input rows the window's vertical taps read go through the horizontal pass.
  const int64_t row_lo = source.y0, row_hi = source.y0 + source.height;
  const int64_t c = channels;
  // Scratch reused across calls of a thread; the references are taken once (each access to a thread_local
  // of a shared library is a __tls_get_addr call: 3% of the pipeline when the loops used them directly).
  thread_local std::vector<uint8_t> rows_scratch;
  thread_local std::vector<int32_t> acc_scratch;
  std::vector<uint8_t>& rows = rows_scratch;  // (row_hi - row_lo) x window_w x c
  std::vector<int32_t>& acc = acc_scratch;    // one output row's sums
  rows.resize(static_cast<size_t>((row_hi - row_lo) * window_w * c));
  for (int64_t y = row_lo; y < row_hi; ++y)
    horizontal_pass(in + (y - held.y0) * held.width * c, held.x0, hx, x0, window_w, c,
                    rows.data() + (y - row_lo) * window_w * c);
  // Vertical pass, a tap at a time over whole rows: the inner loop runs over contiguous bytes (vectorised),
  // and integer sums are exact in any order, so this equals Pillow's per-pixel loop.
  const int64_t row_len = window_w * c;
  acc.resize(static_cast<size_t>(row_len));
  for (int64_t y = 0; y < window_h; ++y) {
    const int64_t o = y0 + y;
    const int32_t* k = vy.weights.data() + o * vy.ksize;
    const uint8_t* s = rows.data() + (vy.first[o] - row_lo) * row_len;
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));  // rounds to nearest
    for (int64_t i = 0; i < vy.count[o]; ++i) {
      const uint8_t* r = s + i * row_len;
      const int32_t ki = k[i];
      int32_t* a = acc.data();
      for (int64_t xc = 0; xc < row_len; ++xc) a[xc] += r[xc] * ki;
    }
    uint8_t* dst = out + y * row_len;
    const int32_t* a = acc.data();
    for (int64_t xc = 0; xc < row_len; ++xc) dst[xc] = clip8(a[xc]);
  }
}

}  // namespace collapse
