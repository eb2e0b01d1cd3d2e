#pragma once
// GELU, y = x Φ(x): kernel slots in backends/gelu.h, the differentiable function in autograd/ops/gelu.cpp,
// the module in layers/gelu.h.
#include "autograd/variable.h"
#include "backends/gelu.h"

namespace collapse {
Variable gelu(const Variable& x);
}  // namespace collapse
