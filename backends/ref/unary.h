#pragma once
// The reference form of an elementwise op: one strided loop over any rank and layout (x and y, or dy,
// saved and dx, may each have their own), the function evaluated in double. Rounding once at the end
// keeps the float32 instantiation as exact as it can be, so the ref stays the oracle for transcendental
// functions too. An op is then its formula:
//   unary_forward(op, x, y, [](double v) { return v > 0 ? v : 0.0; });
//   unary_backward(op, dy, y, dx, [](double g, double out) { return out > 0 ? g : 0.0; });
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"
#include "core/tensor.h"

namespace collapse::ref {

// y = f(x), f: double -> double.
template <class F>
void unary_forward(const char* op, const Tensor& x_t, Tensor& y_t, F f) {
  dispatch_float(op, x_t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* x = x_t.data<T>();
    T* y = y_t.data<T>();
    for_each_offset<2>(x_t.shape(), {x_t.strides(), y_t.strides()},
                       [&](const auto& at) { y[at[1]] = static_cast<T>(f(static_cast<double>(x[at[0]]))); });
  });
}

// dx = g(dy, saved), g: (double, double) -> double; `saved` is the forward's input or output, whichever
// the derivative is written in.
template <class G>
void unary_backward(const char* op, const Tensor& dy_t, const Tensor& saved_t, Tensor& dx_t, G g) {
  dispatch_float(op, dy_t.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* dy = dy_t.data<T>();
    const T* saved = saved_t.data<T>();
    T* dx = dx_t.data<T>();
    for_each_offset<3>(dy_t.shape(), {dy_t.strides(), saved_t.strides(), dx_t.strides()}, [&](const auto& at) {
      dx[at[2]] = static_cast<T>(g(static_cast<double>(dy[at[0]]), static_cast<double>(saved[at[1]])));
    });
  });
}

}  // namespace collapse::ref
