// Reference channel-wise scaling: plain loops through strides over [N,C,H,W] (or [N,C] as [N,C,1,1]);
// the per-channel sums of the backward accumulate in double.
#include "backends/channel_scale.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

template <class T>
void scale_channels(const Tensor& x_t, const Tensor& s_t, Tensor& y_t) {
  const auto x = nchw_view<const T>(x_t);
  const auto y = nchw_view<T>(y_t);
  const View2<const T> s(s_t);
  const NchwSizes n = nchw_sizes(x_t);
  for (int64_t i = 0; i < n.n; ++i)
    for (int64_t c = 0; c < n.c; ++c) {
      const T g = s(i, c);
      for (int64_t h = 0; h < n.h; ++h)
        for (int64_t w = 0; w < n.w; ++w) y(i, c, h, w) = x(i, c, h, w) * g;
    }
}

template <class T>
void scale_channels_grad(const Tensor& dy_t, const Tensor& x_t, const Tensor& s_t, Tensor& dx_t, Tensor& ds_t) {
  const auto dy = nchw_view<const T>(dy_t);
  const auto x = nchw_view<const T>(x_t);
  const View2<const T> s(s_t);
  const NchwSizes n = nchw_sizes(dy_t);
  if (dx_t.defined()) {
    const auto dx = nchw_view<T>(dx_t);
    for (int64_t i = 0; i < n.n; ++i)
      for (int64_t c = 0; c < n.c; ++c)
        for (int64_t h = 0; h < n.h; ++h)
          for (int64_t w = 0; w < n.w; ++w) dx(i, c, h, w) = dy(i, c, h, w) * s(i, c);
  }
  if (ds_t.defined()) {
    const View2<T> ds(ds_t);
    for (int64_t i = 0; i < n.n; ++i)
      for (int64_t c = 0; c < n.c; ++c) {
        double sum = 0.0;
        for (int64_t h = 0; h < n.h; ++h)
          for (int64_t w = 0; w < n.w; ++w) sum += static_cast<double>(dy(i, c, h, w)) * x(i, c, h, w);
        ds(i, c) = static_cast<T>(sum);
      }
  }
}

void ref_channel_scale_forward(const Tensor& x, const Tensor& s, Tensor& y) {
  dispatch_float(channel_scale_forward.name, x.dtype(), [&](auto tag) { scale_channels<decltype(tag)>(x, s, y); });
}

void ref_channel_scale_backward(const Tensor& dy, const Tensor& x, const Tensor& s, Tensor& dx, Tensor& ds) {
  dispatch_float(channel_scale_backward.name, x.dtype(),
                 [&](auto tag) { scale_channels_grad<decltype(tag)>(dy, x, s, dx, ds); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(channel_scale_forward, ref, &ref_channel_scale_forward);
COLLAPSE_REGISTER_KERNEL(channel_scale_backward, ref, &ref_channel_scale_backward);

}  // namespace collapse::ref
