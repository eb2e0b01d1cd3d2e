#include "backends/channel_statistics.h"

namespace collapse {
namespace {

void check_activation(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  COLLAPSE_CHECK(t.defined(), op, ": ", name, " is undefined");
  COLLAPSE_CHECK(t.shape() == x.shape() && t.dtype() == x.dtype() && t.device() == x.device(), op, ": ", name, " is ",
                 t.str(), ", expected x's shape, dtype and device (", x.str(), ")");
}

void check_per_channel(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  COLLAPSE_CHECK(t.defined() && t.dtype() == DType::f64 && t.device().is_cpu() && t.is_contiguous() &&
                     t.shape() == Shape{x.size(1)},
                 op, ": ", name, " is ", t.defined() ? t.str() : std::string("undefined"),
                 ", expected float64[", x.size(1), "] cpu (one value per channel of x)");
}

void check_input(const char* op, const Tensor& x) {
  COLLAPSE_CHECK(x.defined(), op, ": x is undefined");
  COLLAPSE_CHECK((x.dim() == 4 || x.dim() == 2) && (x.dtype() == DType::f32 || x.dtype() == DType::f64), op,
                 ": x is ", x.str(), ", expected float32 or float64 [N,C,H,W] or [N,C]");
}

}  // namespace

void check_channel_moments(const Tensor& x, Tensor& mean, Tensor& squared_deviations) {
  const char* op = "channel_moments";
  check_input(op, x);
  COLLAPSE_CHECK(x.numel() > 0, op, ": x ", x.str(), " is empty (a channel's mean needs values)");
  check_per_channel(op, "mean", mean, x);
  check_per_channel(op, "squared_deviations", squared_deviations, x);
}

void check_channel_gradient_sums(const Tensor& dy, const Tensor& x, const Tensor& centre, Tensor& sum_dy,
                                 Tensor& sum_dy_centred) {
  const char* op = "channel_gradient_sums";
  check_input(op, x);
  check_activation(op, "dy", dy, x);
  check_per_channel(op, "centre", centre, x);
  check_per_channel(op, "sum_dy", sum_dy, x);
  check_per_channel(op, "sum_dy_centred", sum_dy_centred, x);
}

void check_channel_affine(const Tensor& dy, const Tensor& x, const Tensor& dy_scale, const Tensor& x_scale,
                          const Tensor& shift, Tensor& out) {
  const char* op = "channel_affine";
  check_input(op, x);
  if (dy.defined()) {
    check_activation(op, "dy", dy, x);
    check_per_channel(op, "dy_scale", dy_scale, x);
  }
  check_per_channel(op, "x_scale", x_scale, x);
  check_per_channel(op, "shift", shift, x);
  check_activation(op, "out", out, x);
}

}  // namespace collapse
