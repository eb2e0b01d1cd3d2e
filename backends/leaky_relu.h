#pragma once
// The kernel slots of leaky_relu, filled by backends/{ref,cpu}/leaky_relu.cpp and backends/cuda/leaky_relu.cu; the
// differentiable function is in autograd/ops/leaky_relu.h. The slots live below autograd so that kernels never
// depend on the graph layer.
#include "backends/dispatch.h"
#include "backends/shapes.h"

namespace collapse {

// y = x > 0 ? x : slope * x, elementwise over tensors of any rank and layout (x and y same shape and dtype).
using LeakyReluForwardFn = void(const Tensor& x, double slope, Tensor& y);
// dx = x > 0 ? dy : slope * dy. Reads the forward's input, not its output: for a negative slope the sign of
// y no longer tells which side of 0 x was on. The derivative at x == 0 is taken as `slope` (oneDNN's rule).
using LeakyReluBackwardFn = void(const Tensor& dy, const Tensor& x, double slope, Tensor& dx);
// The argument rules, for every backend (backends/shapes.h): x, y, dy and dx all shaped alike.
inline void check_leaky_relu_forward(const Tensor& x, double, Tensor& y) {
  check_elementwise(ArgCheck("leaky_relu_forward"), x, "x", {{&y, "y"}});
}
inline void check_leaky_relu_backward(const Tensor& dy, const Tensor& x, double, Tensor& dx) {
  check_elementwise(ArgCheck("leaky_relu_backward"), dy, "dy", {{&x, "x"}, {&dx, "dx"}});
}
inline Kernel<LeakyReluForwardFn> leaky_relu_forward{"leaky_relu_forward", &check_leaky_relu_forward};
inline Kernel<LeakyReluBackwardFn> leaky_relu_backward{"leaky_relu_backward", &check_leaky_relu_backward};

}  // namespace collapse
