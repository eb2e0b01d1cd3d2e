// Reference 2-D convolution (cross-correlation, as PyTorch): x [N,Ci,H,W], w [Co,Ci,k,k], b [Co], y [N,Co,Ho,Wo].
// Sums accumulate in double in both instantiations, so the float32 version is as exact as it can be.
#include <algorithm>
#include <string>
#include <vector>

#include "backends/kernels.h"
#include "backends/ref/checks.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"
#include "backends/ref/window.h"

namespace collapse::ref {
namespace {

// The sizes of one convolution, read from x and w and checked against each other.
struct ConvGeometry {
  int64_t N, Ci, H, W, Co, k, Ho, Wo;
  Window window;
  Shape output_shape() const { return {N, Co, Ho, Wo}; }
  // "x [2, 3, 8, 8] convolved by w [4, 3, 3, 3], stride 1, padding 1", for error messages.
  std::string describe(const char* input, const char* weights) const {
    return std::string(input) + " " + shape_str({N, Ci, H, W}) + " convolved by " + weights + " " +
           shape_str({Co, Ci, k, k}) + ", stride " + std::to_string(window.stride) + ", padding " +
           std::to_string(window.padding);
  }
};

ConvGeometry conv_geometry(const ArgCheck& check, const Shape& x, const Shape& w, const Conv2dParams& p) {
  check.that(x.size() == 4, "x must be [N,Ci,H,W], got ", shape_str(x));
  check.that(w.size() == 4, "w must be [Co,Ci,k,k], got ", shape_str(w));
  check.that(w[1] == x[1], "w ", shape_str(w), " expects ", w[1], " input channels but x ", shape_str(x), " has ", x[1]);
  check.that(w[2] == w[3], "only square kernels are supported, w is ", shape_str(w));
  check.that(p.stride >= 1 && p.padding >= 0, "stride must be >= 1 and padding >= 0, got stride ", p.stride,
             " padding ", p.padding);
  check.that(w[2] <= x[2] + 2 * p.padding && w[2] <= x[3] + 2 * p.padding, "kernel of w ", shape_str(w),
             " is larger than the padded input x ", shape_str(x), " (padding ", p.padding, ")");
  const int64_t k = w[2];
  return {x[0], x[1], x[2], x[3], w[0], k, conv_out_size(x[2], k, p.stride, p.padding),
          conv_out_size(x[3], k, p.stride, p.padding), Window{k, p.stride, p.padding}};
}

template <class T>
void convolve(const ConvGeometry& g, const Tensor& x_t, const Tensor& w_t, const Tensor& b_t, Tensor& y_t) {
  View4<const T> x(x_t), w(w_t);
  View4<T> y(y_t);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t co = 0; co < g.Co; ++co)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          double sum = b_t.defined() ? static_cast<double>(View1<const T>(b_t)(co)) : 0.0;
          for (int64_t ci = 0; ci < g.Ci; ++ci)
            for_each_tap_in_input(g.window, oh, ow, g.H, g.W, [&](int64_t ih, int64_t iw, int64_t kh, int64_t kw) {
              sum += static_cast<double>(x(n, ci, ih, iw)) * w(co, ci, kh, kw);
            });
          y(n, co, oh, ow) = static_cast<T>(sum);
        }
}

// dx[n,ci,ih,iw] = sum over the outputs whose window reads (ih,iw) of dy * w at that tap.
template <class T>
void convolve_backward_data(const ConvGeometry& g, const Tensor& dy_t, const Tensor& w_t, Tensor& dx_t) {
  View4<const T> dy(dy_t), w(w_t);
  View4<T> dx(dx_t);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t ci = 0; ci < g.Ci; ++ci)
      for (int64_t ih = 0; ih < g.H; ++ih)
        for (int64_t iw = 0; iw < g.W; ++iw) {
          double sum = 0.0;
          for (int64_t co = 0; co < g.Co; ++co)
            for_each_output_reading(g.window, ih, iw, g.Ho, g.Wo, [&](int64_t oh, int64_t ow, int64_t kh, int64_t kw) {
              sum += static_cast<double>(dy(n, co, oh, ow)) * w(co, ci, kh, kw);
            });
          dx(n, ci, ih, iw) = static_cast<T>(sum);
        }
}

// dw[co,ci,kh,kw] = sum over batch and outputs of dy * (the input that tap read); db[co] = sum of dy.
template <class T>
void convolve_backward_weights(const ConvGeometry& g, const Tensor& x_t, const Tensor& dy_t, Tensor& dw_t,
                               Tensor& db_t) {
  View4<const T> x(x_t), dy(dy_t);
  View4<T> dw(dw_t);
  std::vector<double> taps(static_cast<size_t>(g.k * g.k));  // one (co, ci) kernel's sums, kh-major
  for (int64_t co = 0; co < g.Co; ++co)
    for (int64_t ci = 0; ci < g.Ci; ++ci) {
      std::fill(taps.begin(), taps.end(), 0.0);
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t oh = 0; oh < g.Ho; ++oh)
          for (int64_t ow = 0; ow < g.Wo; ++ow) {
            const double grad = dy(n, co, oh, ow);
            for_each_tap_in_input(g.window, oh, ow, g.H, g.W, [&](int64_t ih, int64_t iw, int64_t kh, int64_t kw) {
              taps[kh * g.k + kw] += grad * x(n, ci, ih, iw);
            });
          }
      for (int64_t kh = 0; kh < g.k; ++kh)
        for (int64_t kw = 0; kw < g.k; ++kw) dw(co, ci, kh, kw) = static_cast<T>(taps[kh * g.k + kw]);
    }
  if (!db_t.defined()) return;
  View1<T> db(db_t);
  for (int64_t co = 0; co < g.Co; ++co) {
    double sum = 0.0;
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow) sum += dy(n, co, oh, ow);
    db(co) = static_cast<T>(sum);
  }
}

void ref_conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Tensor& y) {
  const ArgCheck check(conv2d_forward.name);
  check.float_input(x, "x");
  check.same_dtype(w, "w", x, "x");
  const ConvGeometry g = conv_geometry(check, x.shape(), w.shape(), p);
  if (b.defined()) {
    check.same_dtype(b, "b", x, "x");
    check.shape(b, "b", {g.Co}, "one bias per output channel of w");
  }
  check.same_dtype(y, "y", x, "x");
  check.shape(y, "y", g.output_shape(), g.describe("x", "w"));
  dispatch_float(conv2d_forward.name, x.dtype(), [&](auto tag) { convolve<decltype(tag)>(g, x, w, b, y); });
}

void ref_conv2d_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  const ArgCheck check(conv2d_backward_data.name);
  check.float_input(dy, "dy");
  check.same_dtype(w, "w", dy, "dy");
  check.same_dtype(dx, "dx", dy, "dy");
  const ConvGeometry g = conv_geometry(check, dx.shape(), w.shape(), p);
  check.shape(dy, "dy", g.output_shape(), g.describe("dx", "w"));
  dispatch_float(conv2d_backward_data.name, dy.dtype(),
                 [&](auto tag) { convolve_backward_data<decltype(tag)>(g, dy, w, dx); });
}

void ref_conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Conv2dParams& p, Tensor& dw, Tensor& db) {
  const ArgCheck check(conv2d_backward_weights.name);
  check.float_input(x, "x");
  check.same_dtype(dy, "dy", x, "x");
  check.same_dtype(dw, "dw", x, "x");
  const ConvGeometry g = conv_geometry(check, x.shape(), dw.shape(), p);
  check.shape(dy, "dy", g.output_shape(), g.describe("x", "dw"));
  if (db.defined()) {
    check.same_dtype(db, "db", x, "x");
    check.shape(db, "db", {g.Co}, "one bias per output channel of dw");
  }
  dispatch_float(conv2d_backward_weights.name, x.dtype(),
                 [&](auto tag) { convolve_backward_weights<decltype(tag)>(g, x, dy, dw, db); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(conv2d_forward, ref, &ref_conv2d_forward);
COLLAPSE_REGISTER_KERNEL(conv2d_backward_data, ref, &ref_conv2d_backward_data);
COLLAPSE_REGISTER_KERNEL(conv2d_backward_weights, ref, &ref_conv2d_backward_weights);

}  // namespace collapse::ref
