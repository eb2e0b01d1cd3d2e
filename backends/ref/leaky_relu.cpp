// Reference LeakyReLU (the test oracle and every float64 computation): plain loops through strides, so
// any rank and layout works, and x, y (or dy, dx) may have different layouts.
#include "backends/leaky_relu.h"
#include "backends/ref/checks.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

template <class T>
void leaky_relu(const Tensor& x_t, double slope, Tensor& y_t) {
  const T* x = x_t.data<T>();
  T* y = y_t.data<T>();
  const T a = static_cast<T>(slope);
  for_each_offset<2>(x_t.shape(), {x_t.strides(), y_t.strides()}, [&](const auto& at) {
    const T v = x[at[0]];
    y[at[1]] = v > T(0) ? v : a * v;
  });
}

template <class T>
void leaky_relu_grad(const Tensor& dy_t, const Tensor& x_t, double slope, Tensor& dx_t) {
  const T* dy = dy_t.data<T>();
  const T* x = x_t.data<T>();
  T* dx = dx_t.data<T>();
  const T a = static_cast<T>(slope);
  for_each_offset<3>(dy_t.shape(), {dy_t.strides(), x_t.strides(), dx_t.strides()}, [&](const auto& at) {
    dx[at[2]] = x[at[1]] > T(0) ? dy[at[0]] : a * dy[at[0]];
  });
}

void ref_leaky_relu_forward(const Tensor& x, double slope, Tensor& y) {
  const ArgCheck check(leaky_relu_forward.name);
  check.float_input(x, "x");
  check.like(y, "y", x, "x");
  dispatch_float(leaky_relu_forward.name, x.dtype(), [&](auto tag) { leaky_relu<decltype(tag)>(x, slope, y); });
}

void ref_leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope, Tensor& dx) {
  const ArgCheck check(leaky_relu_backward.name);
  check.float_input(dy, "dy");
  check.like(x, "x", dy, "dy");
  check.like(dx, "dx", dy, "dy");
  dispatch_float(leaky_relu_backward.name, dy.dtype(),
                 [&](auto tag) { leaky_relu_grad<decltype(tag)>(dy, x, slope, dx); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(leaky_relu_forward, ref, &ref_leaky_relu_forward);
COLLAPSE_REGISTER_KERNEL(leaky_relu_backward, ref, &ref_leaky_relu_backward);

}  // namespace collapse::ref
