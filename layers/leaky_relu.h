#pragma once
// LeakyReLU as a module (torch.nn.LeakyReLU): no parameters, one hyperparameter. Drop it anywhere a
// ReLU module goes (a Sequential, a block of your own) to study what a non-zero negative slope does.
#include "autograd/ops/leaky_relu.h"
#include "layers/module.h"

namespace collapse {

struct LeakyReLU : Module {
  explicit LeakyReLU(double negative_slope = 0.01) : Module("LeakyReLU"), negative_slope(negative_slope) {}
  Variable forward(const Variable& x) override { return leaky_relu(x, negative_slope); }
  double negative_slope;
};

}  // namespace collapse
