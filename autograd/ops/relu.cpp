#include "autograd/functional.h"
#include "autograd/ops/unary.h"

namespace collapse {

// The backward reads the output: the gradient passes where it is positive.
Variable relu(const Variable& x) {
  return unary_op("relu", x, Saved::output, [](const Tensor& in, Tensor& y) { relu_forward(in, y); },
                  [](const Tensor& dy, const Tensor& y, Tensor& dx) { relu_backward(dy, y, dx); });
}

}  // namespace collapse
