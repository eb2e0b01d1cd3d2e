#pragma once
// Sigmoid, y = 1 / (1 + exp(-x)): a differentiable primitive (the gate of squeeze-and-excitation).
// Kernel slots here; implementations in backends/ref/sigmoid.cpp, backends/cpu/sigmoid.cpp and
// backends/cuda/sigmoid.cu; the differentiable function in autograd/ops/sigmoid.cpp.
#include "autograd/variable.h"
#include "backends/dispatch.h"

namespace collapse {

// Elementwise over tensors of any rank and layout; x and y have the same shape and dtype.
using SigmoidForwardFn = void(const Tensor& x, Tensor& y);
// dx = dy * y * (1 - y), from the forward's output y.
using SigmoidBackwardFn = void(const Tensor& dy, const Tensor& y, Tensor& dx);
inline Kernel<SigmoidForwardFn> sigmoid_forward{"sigmoid_forward"};
inline Kernel<SigmoidBackwardFn> sigmoid_backward{"sigmoid_backward"};

Variable sigmoid(const Variable& x);

}  // namespace collapse
