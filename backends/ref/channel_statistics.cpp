// Reference per-channel moments, gradient sums and affine maps (backends/channel_statistics.h): loops
// through strides, every sum in double, the mean before the squared deviations (no cancellation).
#include "backends/channel_statistics.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

// fn(n, c, h, w) for every element of channel c.
template <class Fn>
void over_channel(const NchwSizes& s, int64_t c, Fn&& fn) {
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t h = 0; h < s.h; ++h)
      for (int64_t w = 0; w < s.w; ++w) fn(n, c, h, w);
}

template <class T>
void moments(const Tensor& x_t, Tensor& mean_t, Tensor& m2_t) {
  const NchwSizes s = nchw_sizes(x_t);
  const auto x = nchw_view<const T>(x_t);
  double* mean = mean_t.data<double>();
  double* m2 = m2_t.data<double>();
  const double count = static_cast<double>(s.n * s.plane());
  for (int64_t c = 0; c < s.c; ++c) {
    double sum = 0.0;
    over_channel(s, c, [&](auto... i) { sum += static_cast<double>(x(i...)); });
    mean[c] = sum / count;
    double squares = 0.0;
    over_channel(s, c, [&](auto... i) {
      const double d = static_cast<double>(x(i...)) - mean[c];
      squares += d * d;
    });
    m2[c] = squares;
  }
}

template <class T>
void gradient_sums(const Tensor& dy_t, const Tensor& x_t, const Tensor& centre_t, Tensor& sum_dy_t, Tensor& sum_dyc_t) {
  const NchwSizes s = nchw_sizes(x_t);
  const auto x = nchw_view<const T>(x_t);
  const auto dy = nchw_view<const T>(dy_t);
  const double* centre = centre_t.data<double>();
  for (int64_t c = 0; c < s.c; ++c) {
    double sum = 0.0, sum_centred = 0.0;
    over_channel(s, c, [&](auto... i) {
      const double g = static_cast<double>(dy(i...));
      sum += g;
      sum_centred += g * (static_cast<double>(x(i...)) - centre[c]);
    });
    sum_dy_t.data<double>()[c] = sum;
    sum_dyc_t.data<double>()[c] = sum_centred;
  }
}

template <class T>
void affine(const Tensor& dy_t, const Tensor& x_t, const Tensor& a_t, const Tensor& b_t, const Tensor& k_t, Tensor& out_t) {
  const NchwSizes s = nchw_sizes(x_t);
  const auto x = nchw_view<const T>(x_t);
  const auto out = nchw_view<T>(out_t);
  const bool has_dy = dy_t.defined();
  const auto dy = has_dy ? nchw_view<const T>(dy_t) : x;
  const double* b = b_t.data<double>();
  const double* k = k_t.data<double>();
  const double* a = has_dy ? a_t.data<double>() : nullptr;
  for (int64_t c = 0; c < s.c; ++c)
    over_channel(s, c, [&](auto... i) {
      const double v = b[c] * static_cast<double>(x(i...)) + k[c];
      out(i...) = static_cast<T>(has_dy ? a[c] * static_cast<double>(dy(i...)) + v : v);
    });
}

void ref_channel_moments(const Tensor& x, Tensor& mean, Tensor& m2) {
  dispatch_float(channel_moments.name, x.dtype(), [&](auto tag) { moments<decltype(tag)>(x, mean, m2); });
}

void ref_channel_gradient_sums(const Tensor& dy, const Tensor& x, const Tensor& centre, Tensor& sum_dy,
                               Tensor& sum_dy_centred) {
  dispatch_float(channel_gradient_sums.name, x.dtype(),
                 [&](auto tag) { gradient_sums<decltype(tag)>(dy, x, centre, sum_dy, sum_dy_centred); });
}

void ref_channel_affine(const Tensor& dy, const Tensor& x, const Tensor& dy_scale, const Tensor& x_scale,
                        const Tensor& shift, Tensor& out) {
  dispatch_float(channel_affine.name, x.dtype(),
                 [&](auto tag) { affine<decltype(tag)>(dy, x, dy_scale, x_scale, shift, out); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(channel_moments, ref, &ref_channel_moments);
COLLAPSE_REGISTER_KERNEL(channel_gradient_sums, ref, &ref_channel_gradient_sums);
COLLAPSE_REGISTER_KERNEL(channel_affine, ref, &ref_channel_affine);

}  // namespace collapse::ref
