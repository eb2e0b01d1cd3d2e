#pragma once
// Sigmoid, y = 1 / (1 + exp(-x)): a differentiable primitive (the gate of squeeze-and-excitation).
// Kernel slots in backends/sigmoid.h (implementations in backends/{ref,cpu}/sigmoid.cpp and
// backends/cuda/sigmoid.cu); the differentiable function in autograd/ops/sigmoid.cpp.
#include "autograd/variable.h"
#include "backends/sigmoid.h"

namespace collapse {

Variable sigmoid(const Variable& x);

}  // namespace collapse
