#pragma once
// LeakyReLU, y = x > 0 ? x : slope * x: a differentiable primitive added from outside the core, the way
// docs/extending.md describes. This header is everything the rest of the code sees of it:
//  - its kernel slots (one per pass), which each backend fills from its own file with
//    COLLAPSE_REGISTER_KERNEL: backends/ref/leaky_relu.cpp, backends/cpu/leaky_relu.cpp and, when the CUDA
//    backend is built, backends/cuda/leaky_relu.cu;
//  - the differentiable function, defined in autograd/ops/leaky_relu.cpp.
// The module wrapping it is LeakyReLU in layers/leaky_relu.h.
#include "autograd/variable.h"
#include "backends/dispatch.h"

namespace collapse {

// y = x > 0 ? x : slope * x, elementwise over tensors of any rank and layout (x and y same shape and dtype).
using LeakyReluForwardFn = void(const Tensor& x, double slope, Tensor& y);
// dx = x > 0 ? dy : slope * dy. Reads the forward's input, not its output: for a negative slope the sign of
// y no longer tells which side of 0 x was on. The derivative at x == 0 is taken as `slope` (oneDNN's rule).
using LeakyReluBackwardFn = void(const Tensor& dy, const Tensor& x, double slope, Tensor& dx);
inline Kernel<LeakyReluForwardFn> leaky_relu_forward{"leaky_relu_forward"};
inline Kernel<LeakyReluBackwardFn> leaky_relu_backward{"leaky_relu_backward"};

// Differentiable LeakyReLU (slope 0 is ReLU, slope 1 the identity). PyTorch's default slope is 0.01.
Variable leaky_relu(const Variable& x, double slope = 0.01);

}  // namespace collapse
