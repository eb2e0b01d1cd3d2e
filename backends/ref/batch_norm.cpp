// Reference batch normalisation over dim 1 of [N,C,H,W] or [N,C] (PyTorch's BatchNorm2d / BatchNorm1d).
// Statistics are accumulated in double and computed in two passes (mean, then squared deviations), so
// the float32 instantiation does not lose digits to cancellation.
#include <cmath>
#include <initializer_list>
#include <string>
#include <utility>

#include "backends/kernels.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

// fn(n, h, w) for every position of one channel.
template <class Fn>
void for_each_in_channel(const NchwSizes& s, Fn&& fn) {
  for (int64_t n = 0; n < s.n; ++n)
    for (int64_t h = 0; h < s.h; ++h)
      for (int64_t w = 0; w < s.w; ++w) fn(n, h, w);
}

// y = gamma * (x - mean) / sqrt(var + eps) + beta over channel c.
template <class T>
void normalize_channel(const NchwSizes& s, const View4<const T>& x, const View4<T>& y, int64_t c, double mean,
                       double var, double gamma, double beta, double eps) {
  const double scale = gamma / std::sqrt(var + eps);
  for_each_in_channel(s, [&](int64_t n, int64_t h, int64_t w) {
    y(n, c, h, w) = static_cast<T>((x(n, c, h, w) - mean) * scale + beta);
  });
}

template <class T>
void batch_norm_train(const Tensor& x_t, const Tensor& gamma_t, const Tensor& beta_t, Tensor& running_mean_t,
                      Tensor& running_var_t, double momentum, double eps, Tensor& y_t, Tensor& save_mean_t,
                      Tensor& save_var_t) {
  const NchwSizes s = nchw_sizes(x_t);
  const View4<const T> x = nchw_view<const T>(x_t);
  const View4<T> y = nchw_view<T>(y_t);
  View1<const T> gamma(gamma_t), beta(beta_t);
  View1<T> running_mean(running_mean_t), running_var(running_var_t), save_mean(save_mean_t), save_var(save_var_t);
  const double count = static_cast<double>(s.n * s.plane());
  for (int64_t c = 0; c < s.c; ++c) {
    double sum = 0.0;
    for_each_in_channel(s, [&](int64_t n, int64_t h, int64_t w) { sum += x(n, c, h, w); });
    const double mean = sum / count;
    double squared_deviations = 0.0;
    for_each_in_channel(s, [&](int64_t n, int64_t h, int64_t w) {
      const double d = x(n, c, h, w) - mean;
      squared_deviations += d * d;
    });
    const double biased_var = squared_deviations / count;
    const double unbiased_var = squared_deviations / (count - 1.0);
    normalize_channel(s, x, y, c, mean, biased_var, gamma(c), beta(c), eps);
    save_mean(c) = static_cast<T>(mean);
    save_var(c) = static_cast<T>(biased_var);
    running_mean(c) = static_cast<T>((1.0 - momentum) * running_mean(c) + momentum * mean);
    running_var(c) = static_cast<T>((1.0 - momentum) * running_var(c) + momentum * unbiased_var);
  }
}

template <class T>
void batch_norm_eval(const Tensor& x_t, const Tensor& gamma_t, const Tensor& beta_t, const Tensor& running_mean_t,
                     const Tensor& running_var_t, double eps, Tensor& y_t) {
  const NchwSizes s = nchw_sizes(x_t);
  const View4<const T> x = nchw_view<const T>(x_t);
  const View4<T> y = nchw_view<T>(y_t);
  View1<const T> gamma(gamma_t), beta(beta_t), running_mean(running_mean_t), running_var(running_var_t);
  for (int64_t c = 0; c < s.c; ++c)
    normalize_channel(s, x, y, c, running_mean(c), running_var(c), gamma(c), beta(c), eps);
}

// With xhat = (x - mean) * inv_std and M elements per channel:
//   dbeta = sum dy,  dgamma = sum dy * xhat,  dx = gamma * inv_std * (dy - dbeta / M - xhat * dgamma / M).
template <class T>
void batch_norm_grad(const Tensor& dy_t, const Tensor& x_t, const Tensor& gamma_t, const Tensor& save_mean_t,
                     const Tensor& save_var_t, double eps, Tensor& dx_t, Tensor& dgamma_t, Tensor& dbeta_t) {
  const NchwSizes s = nchw_sizes(x_t);
  const View4<const T> x = nchw_view<const T>(x_t), dy = nchw_view<const T>(dy_t);
  const View4<T> dx = nchw_view<T>(dx_t);
  View1<const T> gamma(gamma_t), save_mean(save_mean_t), save_var(save_var_t);
  const double count = static_cast<double>(s.n * s.plane());
  for (int64_t c = 0; c < s.c; ++c) {
    const double mean = save_mean(c), inv_std = 1.0 / std::sqrt(save_var(c) + eps);
    double sum_dy = 0.0, sum_dy_xhat = 0.0;
    for_each_in_channel(s, [&](int64_t n, int64_t h, int64_t w) {
      sum_dy += dy(n, c, h, w);
      sum_dy_xhat += dy(n, c, h, w) * (x(n, c, h, w) - mean) * inv_std;
    });
    // Reads dy before writing dx at each element, so dx may alias dy.
    const double scale = gamma(c) * inv_std;
    for_each_in_channel(s, [&](int64_t n, int64_t h, int64_t w) {
      const double xhat = (x(n, c, h, w) - mean) * inv_std;
      dx(n, c, h, w) = static_cast<T>(scale * (dy(n, c, h, w) - sum_dy / count - xhat * sum_dy_xhat / count));
    });
    if (dgamma_t.defined()) View1<T>{dgamma_t}(c) = static_cast<T>(sum_dy_xhat);
    if (dbeta_t.defined()) View1<T>{dbeta_t}(c) = static_cast<T>(sum_dy);
  }
}

void ref_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                  Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& save_mean,
                                  Tensor& save_var) {
  dispatch_float(batch_norm_forward_train.name, x.dtype(), [&](auto tag) {
    batch_norm_train<decltype(tag)>(x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean, save_var);
  });
  running_mean.storage()->bump_version();
  running_var.storage()->bump_version();
}

void ref_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                                 const Tensor& running_var, double eps, Tensor& y) {
  dispatch_float(batch_norm_forward_eval.name, x.dtype(), [&](auto tag) {
    batch_norm_eval<decltype(tag)>(x, gamma, beta, running_mean, running_var, eps, y);
  });
}

void ref_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                             const Tensor& save_var, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  // Undefined dgamma / dbeta are not computed (a frozen affine transform).
  dispatch_float(batch_norm_backward.name, x.dtype(), [&](auto tag) {
    batch_norm_grad<decltype(tag)>(dy, x, gamma, save_mean, save_var, eps, dx, dgamma, dbeta);
  });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(batch_norm_forward_train, ref, &ref_batch_norm_forward_train);
COLLAPSE_REGISTER_KERNEL(batch_norm_forward_eval, ref, &ref_batch_norm_forward_eval);
COLLAPSE_REGISTER_KERNEL(batch_norm_backward, ref, &ref_batch_norm_backward);

}  // namespace collapse::ref
