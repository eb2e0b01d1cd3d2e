#include "autograd/ops/gelu.h"

#include "autograd/ops/unary.h"

namespace collapse {

// The backward reads the input: dy (Φ(x) + x φ(x)).
Variable gelu(const Variable& x) {
  return unary_op("gelu", x, Saved::input, [](const Tensor& in, Tensor& y) { gelu_forward(in, y); },
                  [](const Tensor& dy, const Tensor& in, Tensor& dx) { gelu_backward(dy, in, dx); });
}

}  // namespace collapse
