// Reference ReLU, elementwise over tensors of any rank and layout.
#include "backends/kernels.h"
#include "backends/ref/checks.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

template <class T>
void relu(const Tensor& x_t, Tensor& y_t) {
  const T* x = x_t.data<T>();
  T* y = y_t.data<T>();
  for_each_offset<2>(x_t.shape(), {x_t.strides(), y_t.strides()}, [&](const auto& at) {
    y[at[1]] = x[at[0]] > T(0) ? x[at[0]] : T(0);
  });
}

// Gated by the forward's output: y > 0 exactly where x > 0, and ReLU's derivative at 0 is taken as 0.
template <class T>
void relu_grad(const Tensor& dy_t, const Tensor& y_t, Tensor& dx_t) {
  const T* dy = dy_t.data<T>();
  const T* y = y_t.data<T>();
  T* dx = dx_t.data<T>();
  for_each_offset<3>(dy_t.shape(), {dy_t.strides(), y_t.strides(), dx_t.strides()}, [&](const auto& at) {
    dx[at[2]] = y[at[1]] > T(0) ? dy[at[0]] : T(0);
  });
}

void ref_relu_forward(const Tensor& x, Tensor& y) {
  const ArgCheck check(relu_forward.name);
  check.float_input(x, "x");
  check.like(y, "y", x, "x");
  dispatch_float(relu_forward.name, x.dtype(), [&](auto tag) { relu<decltype(tag)>(x, y); });
}

void ref_relu_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  const ArgCheck check(relu_backward.name);
  check.float_input(dy, "dy");
  check.like(y, "y", dy, "dy");
  check.like(dx, "dx", dy, "dy");
  dispatch_float(relu_backward.name, dy.dtype(), [&](auto tag) { relu_grad<decltype(tag)>(dy, y, dx); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(relu_forward, ref, &ref_relu_forward);
COLLAPSE_REGISTER_KERNEL(relu_backward, ref, &ref_relu_backward);

}  // namespace collapse::ref
