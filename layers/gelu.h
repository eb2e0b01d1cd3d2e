#pragma once
// GELU as a module (torch.nn.GELU(), the exact form): no parameters. Drop it anywhere a ReLU module goes.
#include "autograd/ops/gelu.h"
#include "layers/module.h"

namespace collapse {

struct GELU : Module {
  GELU() : Module("GELU") {}
  Variable forward(const Variable& x) override { return gelu(x); }
};

}  // namespace collapse
