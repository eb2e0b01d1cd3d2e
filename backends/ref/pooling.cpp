// Reference pooling over [N,C,H,W]: max pool (with argmax workspace), average pool (count_include_pad=True,
// so every window divides by kernel * kernel) and global average pool to [N,C].
#include <cmath>
#include <limits>
#include <string>

#include "backends/kernels.h"
#include "backends/ref/checks.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"
#include "backends/ref/window.h"

namespace collapse::ref {
namespace {

struct PoolGeometry {
  int64_t N, C, H, W, Ho, Wo;
  Window window;
  Shape output_shape() const { return {N, C, Ho, Wo}; }
  // "x [2, 3, 8, 8] pooled by kernel 3, stride 2, padding 1", for error messages.
  std::string describe(const char* input) const {
    return std::string(input) + " " + shape_str({N, C, H, W}) + " pooled by kernel " + std::to_string(window.kernel) +
           ", stride " + std::to_string(window.stride) + ", padding " + std::to_string(window.padding);
  }
};

// The pooling of an input of shape `x` (for backward passes, the shape of dx).
PoolGeometry pool_geometry(const ArgCheck& check, const Tensor& x, const char* x_name, const Pool2dParams& p) {
  check.rank(x, x_name, 4);
  check.that(p.kernel >= 1 && p.stride >= 1 && p.padding >= 0, "kernel and stride must be >= 1 and padding >= 0, got kernel ",
             p.kernel, " stride ", p.stride, " padding ", p.padding);
  // As PyTorch: otherwise a window could hold padding only.
  check.that(p.padding <= p.kernel / 2, "padding ", p.padding, " must be at most half the kernel ", p.kernel);
  const Shape& s = x.shape();
  check.that(p.kernel <= s[2] + 2 * p.padding && p.kernel <= s[3] + 2 * p.padding, "kernel ", p.kernel,
             " is larger than the padded input ", x_name, " ", shape_str(s), " (padding ", p.padding, ")");
  return {s[0], s[1], s[2], s[3], conv_out_size(s[2], p.kernel, p.stride, p.padding),
          conv_out_size(s[3], p.kernel, p.stride, p.padding), Window{p.kernel, p.stride, p.padding}};
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
void check_argmax_in_windows(const ArgCheck& check, const PoolGeometry& g, const Tensor& workspace_t) {
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
  const ArgCheck check(max_pool2d_forward.name);
  check.float_input(x, "x");
  const PoolGeometry g = pool_geometry(check, x, "x", p);
  check.same_dtype(y, "y", x, "x");
  check.shape(y, "y", g.output_shape(), g.describe("x"));
  if (!workspace.defined()) workspace = Tensor::empty(g.output_shape(), DType::i64);
  check.dtype(workspace, "workspace", DType::i64);
  check.shape(workspace, "workspace", g.output_shape(), "one argmax per output");
  dispatch_float(max_pool2d_forward.name, x.dtype(), [&](auto tag) { max_pool<decltype(tag)>(g, x, y, workspace); });
}

void ref_max_pool2d_backward(const Tensor& dy, const Tensor& workspace, const Pool2dParams& p, Tensor& dx) {
  const ArgCheck check(max_pool2d_backward.name);
  check.float_input(dy, "dy");
  check.same_dtype(dx, "dx", dy, "dy");
  const PoolGeometry g = pool_geometry(check, dx, "dx", p);
  check.shape(dy, "dy", g.output_shape(), g.describe("dx"));
  check.dtype(workspace, "workspace", DType::i64);
  check.shape(workspace, "workspace", g.output_shape(), "one argmax per output");
  check_argmax_in_windows(check, g, workspace);
  dispatch_float(max_pool2d_backward.name, dy.dtype(),
                 [&](auto tag) { max_pool_grad<decltype(tag)>(g, dy, workspace, dx); });
}

void ref_avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  const ArgCheck check(avg_pool2d_forward.name);
  check.float_input(x, "x");
  const PoolGeometry g = pool_geometry(check, x, "x", p);
  check.same_dtype(y, "y", x, "x");
  check.shape(y, "y", g.output_shape(), g.describe("x"));
  dispatch_float(avg_pool2d_forward.name, x.dtype(), [&](auto tag) { avg_pool<decltype(tag)>(g, x, y); });
}

void ref_avg_pool2d_backward(const Tensor& dy, const Pool2dParams& p, Tensor& dx) {
  const ArgCheck check(avg_pool2d_backward.name);
  check.float_input(dy, "dy");
  check.same_dtype(dx, "dx", dy, "dy");
  const PoolGeometry g = pool_geometry(check, dx, "dx", p);
  check.shape(dy, "dy", g.output_shape(), g.describe("dx"));
  dispatch_float(avg_pool2d_backward.name, dy.dtype(), [&](auto tag) { avg_pool_grad<decltype(tag)>(g, dy, dx); });
}

void ref_global_avg_pool_forward(const Tensor& x, Tensor& y) {
  const ArgCheck check(global_avg_pool_forward.name);
  check.float_input(x, "x");
  check.rank(x, "x", 4);
  check.that(x.size(2) * x.size(3) > 0, "x has an empty plane: ", x.str());
  check.same_dtype(y, "y", x, "x");
  check.shape(y, "y", {x.size(0), x.size(1)}, "[N,C] of x");
  dispatch_float(global_avg_pool_forward.name, x.dtype(), [&](auto tag) { global_avg_pool<decltype(tag)>(x, y); });
}

void ref_global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  const ArgCheck check(global_avg_pool_backward.name);
  check.float_input(dy, "dy");
  check.same_dtype(dx, "dx", dy, "dy");
  check.rank(dx, "dx", 4);
  check.that(dx.size(2) * dx.size(3) > 0, "dx has an empty plane: ", dx.str());
  check.shape(dy, "dy", {dx.size(0), dx.size(1)}, "[N,C] of dx");
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
