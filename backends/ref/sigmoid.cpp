// Reference sigmoid: plain loops through strides, computed in double. exp of a non-positive number only,
// so neither tail overflows.
#include <cmath>

#include "backends/sigmoid.h"
#include "backends/ref/checks.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

double stable_sigmoid(double v) {
  if (v >= 0.0) return 1.0 / (1.0 + std::exp(-v));
  const double e = std::exp(v);
  return e / (1.0 + e);
}

template <class T>
void sigmoid(const Tensor& x_t, Tensor& y_t) {
  const T* x = x_t.data<T>();
  T* y = y_t.data<T>();
  for_each_offset<2>(x_t.shape(), {x_t.strides(), y_t.strides()},
                     [&](const auto& at) { y[at[1]] = static_cast<T>(stable_sigmoid(x[at[0]])); });
}

template <class T>
void sigmoid_grad(const Tensor& dy_t, const Tensor& y_t, Tensor& dx_t) {
  const T* dy = dy_t.data<T>();
  const T* y = y_t.data<T>();
  T* dx = dx_t.data<T>();
  for_each_offset<3>(dy_t.shape(), {dy_t.strides(), y_t.strides(), dx_t.strides()}, [&](const auto& at) {
    const double s = y[at[1]];
    dx[at[2]] = static_cast<T>(dy[at[0]] * s * (1.0 - s));
  });
}

void ref_sigmoid_forward(const Tensor& x, Tensor& y) {
  const ArgCheck check(sigmoid_forward.name);
  check.float_input(x, "x");
  check.like(y, "y", x, "x");
  dispatch_float(sigmoid_forward.name, x.dtype(), [&](auto tag) { sigmoid<decltype(tag)>(x, y); });
}

void ref_sigmoid_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  const ArgCheck check(sigmoid_backward.name);
  check.float_input(dy, "dy");
  check.like(y, "y", dy, "dy");
  check.like(dx, "dx", dy, "dy");
  dispatch_float(sigmoid_backward.name, dy.dtype(), [&](auto tag) { sigmoid_grad<decltype(tag)>(dy, y, dx); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(sigmoid_forward, ref, &ref_sigmoid_forward);
COLLAPSE_REGISTER_KERNEL(sigmoid_backward, ref, &ref_sigmoid_backward);

}  // namespace collapse::ref
