#pragma once
// LeakyReLU, y = x > 0 ? x : slope * x: a differentiable primitive added from outside the core, the way
// docs/extending.md describes: its kernel slots (one per pass) are in backends/leaky_relu.h, filled by
// backends/ref/leaky_relu.cpp, backends/cpu/leaky_relu.cpp and, when the CUDA backend is built,
// backends/cuda/leaky_relu.cu; this header declares the differentiable function (autograd/ops/leaky_relu.cpp).
// The module wrapping it is LeakyReLU in layers/leaky_relu.h.
#include "autograd/variable.h"
#include "backends/leaky_relu.h"

namespace collapse {

// Differentiable LeakyReLU (slope 0 is ReLU, slope 1 the identity). PyTorch's default slope is 0.01.
Variable leaky_relu(const Variable& x, double slope = 0.01);

}  // namespace collapse
