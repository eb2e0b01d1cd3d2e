#include "autograd/ops/sigmoid.h"

#include "autograd/ops/unary.h"

namespace collapse {

// The backward reads the output: dσ/dx = σ(1 - σ).
Variable sigmoid(const Variable& x) {
  return unary_op("sigmoid", x, Saved::output, [](const Tensor& in, Tensor& y) { sigmoid_forward(in, y); },
                  [](const Tensor& dy, const Tensor& y, Tensor& dx) { sigmoid_backward(dy, y, dx); });
}

}  // namespace collapse
