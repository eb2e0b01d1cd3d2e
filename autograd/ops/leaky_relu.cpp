// The differentiable LeakyReLU: the forward calls the leaky_relu_forward slot on whichever backend owns
// the input, and the node saves the input for leaky_relu_backward.
#include "autograd/ops/leaky_relu.h"

#include "autograd/ops/unary.h"

namespace collapse {

// The backward reads the input: the gradient is scaled by `slope` where it was not positive.
Variable leaky_relu(const Variable& x, double slope) {
  return unary_op(
      "leaky_relu", x, Saved::input, [slope](const Tensor& in, Tensor& y) { leaky_relu_forward(in, slope, y); },
      [slope](const Tensor& dy, const Tensor& in, Tensor& dx) { leaky_relu_backward(dy, in, slope, dx); });
}

}  // namespace collapse
