// Reference 2-D convolution (cross-correlation, as PyTorch): x [N,Ci,H,W], w [Co,Ci,k,k], b [Co], y [N,Co,Ho,Wo].
// Sums accumulate in double in both instantiations, so the float32 version is as exact as it can be.
#include <algorithm>
#include <string>
#include <vector>

#include "backends/conv2d_composed.h"
#include "backends/kernels.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"
#include "backends/ref/window.h"

namespace collapse::ref {
namespace {

// The sizes of one convolution (the shared geometry of backends/shapes.h) and its window.
struct ConvGeometry : Conv2dGeometry {
  Window window;
};

// The rules were checked before the kernel ran (Kernel::check): this only reads the sizes.
ConvGeometry conv_geometry(const Shape& x, const Shape& w, const Conv2dParams& p) {
  const Conv2dGeometry g = collapse::conv2d_geometry(ArgCheck("conv2d"), x, w, p);
  return {g, Window{g.k, p.stride, p.padding}};
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
  const ConvGeometry g = conv_geometry(x.shape(), w.shape(), p);
  dispatch_float(conv2d_forward.name, x.dtype(), [&](auto tag) { convolve<decltype(tag)>(g, x, w, b, y); });
}

void ref_conv2d_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx) {
  const ConvGeometry g = conv_geometry(dx.shape(), w.shape(), p);
  dispatch_float(conv2d_backward_data.name, dy.dtype(),
                 [&](auto tag) { convolve_backward_data<decltype(tag)>(g, dy, w, dx); });
}

void ref_conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Conv2dParams& p, Tensor& dw, Tensor& db) {
  const ConvGeometry g = conv_geometry(x.shape(), dw.shape(), p);
  dispatch_float(conv2d_backward_weights.name, x.dtype(),
                 [&](auto tag) { convolve_backward_weights<decltype(tag)>(g, x, dy, dw, db); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(conv2d_forward, ref, &ref_conv2d_forward);
COLLAPSE_REGISTER_KERNEL(conv2d_backward_data, ref, &ref_conv2d_backward_data);
COLLAPSE_REGISTER_KERNEL(conv2d_backward_weights, ref, &ref_conv2d_backward_weights);
COLLAPSE_REGISTER_KERNEL(conv2d_backward, ref, &composed_conv2d_backward<Impl::ref>);
COLLAPSE_REGISTER_KERNEL(conv2d_relu_forward, ref, &composed_conv2d_relu_forward<Impl::ref>);

}  // namespace collapse::ref
