// Reference elementwise arithmetic: y = a + b, acc += alpha * x (gradient accumulation), y = alpha * x.
// Shapes must match exactly (no broadcasting); layouts may differ, and outputs may alias inputs.
#include "backends/kernels.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

template <class T>
void add(const Tensor& a_t, const Tensor& b_t, Tensor& y_t) {
  const T* a = a_t.data<T>();
  const T* b = b_t.data<T>();
  T* y = y_t.data<T>();
  for_each_offset<3>(a_t.shape(), {a_t.strides(), b_t.strides(), y_t.strides()},
                     [&](const auto& at) { y[at[2]] = a[at[0]] + b[at[1]]; });
}

// out = alpha * x + beta * out, elementwise; beta is 0 (scale) or 1 (axpy). With beta == 0 the old
// contents of `out` are never read, so an uninitialised output cannot leak NaNs into the result.
template <class T>
void scaled_update(double alpha, const Tensor& x_t, double beta, Tensor& out_t) {
  const T* x = x_t.data<T>();
  T* out = out_t.data<T>();
  for_each_offset<2>(x_t.shape(), {x_t.strides(), out_t.strides()}, [&](const auto& at) {
    const double scaled = alpha * x[at[0]];
    out[at[1]] = static_cast<T>(beta == 0.0 ? scaled : scaled + beta * out[at[1]]);
  });
}

void ref_add_forward(const Tensor& a, const Tensor& b, Tensor& y) {
  dispatch_float(add_forward.name, a.dtype(), [&](auto tag) { add<decltype(tag)>(a, b, y); });
}

void ref_axpy(double alpha, const Tensor& x, Tensor& acc) {
  dispatch_float(axpy.name, x.dtype(), [&](auto tag) { scaled_update<decltype(tag)>(alpha, x, 1.0, acc); });
}

void ref_scale(double alpha, const Tensor& x, Tensor& y) {
  dispatch_float(scale.name, x.dtype(), [&](auto tag) { scaled_update<decltype(tag)>(alpha, x, 0.0, y); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(add_forward, ref, &ref_add_forward);
COLLAPSE_REGISTER_KERNEL(axpy, ref, &ref_axpy);
COLLAPSE_REGISTER_KERNEL(scale, ref, &ref_scale);

}  // namespace collapse::ref
