#pragma once
// The kernel slots of GELU (Hendrycks & Gimpel 2016), exact form y = x Φ(x), Φ the standard normal CDF
// (PyTorch's nn.GELU() default): filled by backends/{ref,cpu}/gelu.cpp and backends/cuda/gelu.cu; the
// differentiable function is in autograd/ops/gelu.h. Added by following docs/extending.md §2, new files only.
#include "backends/dispatch.h"
#include "backends/shapes.h"

namespace collapse {

// y = x Φ(x), elementwise over tensors of any rank and layout (x and y same shape and dtype).
using GeluForwardFn = void(const Tensor& x, Tensor& y);
// dx = dy (Φ(x) + x φ(x)), from the forward's input.
using GeluBackwardFn = void(const Tensor& dy, const Tensor& x, Tensor& dx);
inline void check_gelu_forward(const Tensor& x, Tensor& y) {
  check_elementwise(ArgCheck("gelu_forward"), x, "x", {{&y, "y"}});
}
inline void check_gelu_backward(const Tensor& dy, const Tensor& x, Tensor& dx) {
  check_elementwise(ArgCheck("gelu_backward"), dy, "dy", {{&x, "x"}, {&dx, "dx"}});
}
inline Kernel<GeluForwardFn> gelu_forward{"gelu_forward", &check_gelu_forward};
inline Kernel<GeluBackwardFn> gelu_backward{"gelu_backward", &check_gelu_backward};

}  // namespace collapse
