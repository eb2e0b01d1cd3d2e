// Reference pooling over [N,C,H,W]: max pool (with argmax workspace), average pool (count_include_pad=True,
// so every window divides by kernel * kernel) and global average pool to [N,C].
#include <cmath>
#include <limits>
#include <string>

#include "backends/kernels.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"
#include "backends/ref/window.h"

namespace collapse::ref {
namespace {

// The sizes of one pooling (the shared geometry of backends/shapes.h) and its window.
struct PoolGeometry : Pool2dGeometry {
  Window window;
  Shape output_shape() const { return output(); }
};

// The pooling of an input of shape `x` (for backward passes, the shape of dx); the rules were checked
// before the kernel ran (Kernel::check).
PoolGeometry pool_geometry(const Tensor& x, const Pool2dParams& p) {
  return {collapse::pool2d_geometry(ArgCheck("pool2d"), x.shape(), "x", p), Window{p.kernel, p.stride, p.padding}};
}

// Max pool: the workspace holds, per output, the argmax's index ih * W + iw within its [H,W] input plane
// (PyTorch's return_indices convention). The first maximum in row-major window order wins ties; NaN
// propagates, as in PyTorch.
template <class T>
void max_pool(const PoolGeometry& g, const Tensor& x_t, Tensor& y_t, Tensor& workspace_t) {
  View4<const T> x(x_t);
  View4<T> y(y_t);
  View4<int64_t> argmax(workspace_t);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t best_index = -1;
          for_each_tap_in_input(g.window, oh, ow, g.H, g.W, [&](int64_t ih, int64_t iw, int64_t, int64_t) {
            const T v = x(n, c, ih, iw);
            if (best_index < 0 || v > best || std::isnan(v)) {
              best = v;
              best_index = ih * g.W + iw;
            }
          });
          y(n, c, oh, ow) = best;
          argmax(n, c, oh, ow) = best_index;
        }
}

// A workspace from elsewhere (or stale) must point into each output's own window; a stray index would
// silently drop that output's gradient.
void check_workspace(const PoolGeometry& g, const Tensor& workspace_t) {
  const ArgCheck check(max_pool2d_backward.name);
  check.dtype(workspace_t, "workspace", DType::i64, Device::cpu());
  check.shape(workspace_t, "workspace", g.output_shape(), "one argmax per output");
  View4<const int64_t> argmax(workspace_t);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          const int64_t index = argmax(n, c, oh, ow);
          const int64_t ih = index / g.W, iw = index % g.W;
          const int64_t kh = ih - g.window.input_index(oh, 0), kw = iw - g.window.input_index(ow, 0);
          check.that(index >= 0 && index < g.H * g.W && kh >= 0 && kh < g.window.kernel && kw >= 0 &&
                         kw < g.window.kernel,
                     "workspace index ", index, " at [", n, ", ", c, ", ", oh, ", ", ow,
                     "] is outside that output's window (is the workspace from this max_pool2d_forward?)");
        }
}

// Each input collects the gradient of every output that picked it as its maximum.
template <class T>
void max_pool_grad(const PoolGeometry& g, const Tensor& dy_t, const Tensor& workspace_t, Tensor& dx_t) {
  View4<const T> dy(dy_t);
  View4<const int64_t> argmax(workspace_t);
  View4<T> dx(dx_t);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t ih = 0; ih < g.H; ++ih)
        for (int64_t iw = 0; iw < g.W; ++iw) {
          double sum = 0.0;
          for_each_output_reading(g.window, ih, iw, g.Ho, g.Wo, [&](int64_t oh, int64_t ow, int64_t, int64_t) {
            if (argmax(n, c, oh, ow) == ih * g.W + iw) sum += dy(n, c, oh, ow);
          });
          dx(n, c, ih, iw) = static_cast<T>(sum);
        }
}

template <class T>
void avg_pool(const PoolGeometry& g, const Tensor& x_t, Tensor& y_t) {
  View4<const T> x(x_t);
  View4<T> y(y_t);
  const double window_size = static_cast<double>(g.window.kernel * g.window.kernel);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t oh = 0; oh < g.Ho; ++oh)
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          double sum = 0.0;
          for_each_tap_in_input(g.window, oh, ow, g.H, g.W,
                                [&](int64_t ih, int64_t iw, int64_t, int64_t) { sum += x(n, c, ih, iw); });
          y(n, c, oh, ow) = static_cast<T>(sum / window_size);
        }
}

template <class T>
void avg_pool_grad(const PoolGeometry& g, const Tensor& dy_t, Tensor& dx_t) {
  View4<const T> dy(dy_t);
  View4<T> dx(dx_t);
  const double window_size = static_cast<double>(g.window.kernel * g.window.kernel);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t ih = 0; ih < g.H; ++ih)
        for (int64_t iw = 0; iw < g.W; ++iw) {
          double sum = 0.0;
          for_each_output_reading(g.window, ih, iw, g.Ho, g.Wo,
                                  [&](int64_t oh, int64_t ow, int64_t, int64_t) { sum += dy(n, c, oh, ow); });
          dx(n, c, ih, iw) = static_cast<T>(sum / window_size);
        }
}

template <class T>
void global_avg_pool(const Tensor& x_t, Tensor& y_t) {
  const NchwSizes s = nchw_sizes(x_t);
  View4<const T> x(x_t);
  View2<T> y(y_t);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c) {
      double sum = 0.0;
      for (int64_t h = 0; h < s.h; ++h)
        for (int64_t w = 0; w < s.w; ++w) sum += x(n, c, h, w);
      y(n, c) = static_cast<T>(sum / static_cast<double>(s.plane()));
    }
}

template <class T>
void global_avg_pool_grad(const Tensor& dy_t, Tensor& dx_t) {
  const NchwSizes s = nchw_sizes(dx_t);
  View2<const T> dy(dy_t);
  View4<T> dx(dx_t);
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t c = 0; c < s.c; ++c) {
      const T share = static_cast<T>(static_cast<double>(dy(n, c)) / static_cast<double>(s.plane()));
      for (int64_t h = 0; h < s.h; ++h)
        for (int64_t w = 0; w < s.w; ++w) dx(n, c, h, w) = share;
    }
}

void ref_max_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& workspace) {
  const PoolGeometry g = pool_geometry(x, p);
  if (!workspace.defined()) workspace = Tensor::empty(g.output_shape(), DType::i64);
  const ArgCheck check(max_pool2d_forward.name);
  check.dtype(workspace, "workspace", DType::i64, Device::cpu());
  check.shape(workspace, "workspace", g.output_shape(), "one argmax per output");
  dispatch_float(max_pool2d_forward.name, x.dtype(), [&](auto tag) { max_pool<decltype(tag)>(g, x, y, workspace); });
}

void ref_max_pool2d_backward(const Tensor& dy, const Tensor& workspace, const Pool2dParams& p, Tensor& dx) {
  const PoolGeometry g = pool_geometry(dx, p);
  check_workspace(g, workspace);
  dispatch_float(max_pool2d_backward.name, dy.dtype(),
                 [&](auto tag) { max_pool_grad<decltype(tag)>(g, dy, workspace, dx); });
}

void ref_avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  const PoolGeometry g = pool_geometry(x, p);
  dispatch_float(avg_pool2d_forward.name, x.dtype(), [&](auto tag) { avg_pool<decltype(tag)>(g, x, y); });
}

void ref_avg_pool2d_backward(const Tensor& dy, const Pool2dParams& p, Tensor& dx) {
  const PoolGeometry g = pool_geometry(dx, p);
  dispatch_float(avg_pool2d_backward.name, dy.dtype(), [&](auto tag) { avg_pool_grad<decltype(tag)>(g, dy, dx); });
}

void ref_global_avg_pool_forward(const Tensor& x, Tensor& y) {
  dispatch_float(global_avg_pool_forward.name, x.dtype(), [&](auto tag) { global_avg_pool<decltype(tag)>(x, y); });
}

void ref_global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  dispatch_float(global_avg_pool_backward.name, dy.dtype(),
                 [&](auto tag) { global_avg_pool_grad<decltype(tag)>(dy, dx); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(max_pool2d_forward, ref, &ref_max_pool2d_forward);
COLLAPSE_REGISTER_KERNEL(max_pool2d_backward, ref, &ref_max_pool2d_backward);
COLLAPSE_REGISTER_KERNEL(avg_pool2d_forward, ref, &ref_avg_pool2d_forward);
COLLAPSE_REGISTER_KERNEL(avg_pool2d_backward, ref, &ref_avg_pool2d_backward);
COLLAPSE_REGISTER_KERNEL(global_avg_pool_forward, ref, &ref_global_avg_pool_forward);
COLLAPSE_REGISTER_KERNEL(global_avg_pool_backward, ref, &ref_global_avg_pool_backward);

}  // namespace collapse::ref
