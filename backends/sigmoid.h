#pragma once
// The kernel slots of sigmoid, filled by backends/{ref,cpu}/sigmoid.cpp and backends/cuda/sigmoid.cu; the
// differentiable function is in autograd/ops/sigmoid.h. The slots live below autograd so that kernels never
// depend on the graph layer.
#include "backends/dispatch.h"
#include "backends/shapes.h"

namespace collapse {

// Elementwise over tensors of any rank and layout; x and y have the same shape and dtype.
using SigmoidForwardFn = void(const Tensor& x, Tensor& y);
// dx = dy * y * (1 - y), from the forward's output y.
using SigmoidBackwardFn = void(const Tensor& dy, const Tensor& y, Tensor& dx);
inline void check_sigmoid_forward(const Tensor& x, Tensor& y) {
  check_elementwise(ArgCheck("sigmoid_forward"), x, "x", {{&y, "y"}});
}
inline void check_sigmoid_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  check_elementwise(ArgCheck("sigmoid_backward"), dy, "dy", {{&y, "y"}, {&dx, "dx"}});
}
inline Kernel<SigmoidForwardFn> sigmoid_forward{"sigmoid_forward", &check_sigmoid_forward};
inline Kernel<SigmoidBackwardFn> sigmoid_backward{"sigmoid_backward", &check_sigmoid_backward};

}  // namespace collapse
