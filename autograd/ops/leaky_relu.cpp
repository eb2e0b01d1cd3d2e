// The differentiable LeakyReLU: the forward calls the leaky_relu_forward slot on whichever backend owns
// the input, and the node saves the input for leaky_relu_backward.
#include "autograd/ops/leaky_relu.h"

#include "autograd/node.h"

namespace collapse {
namespace {
struct LeakyReluNode final : Node {
  Tensor x;  // the input: the gradient is scaled by `slope` where it was not positive
  double slope = 0.0;
  const char* name() const override { return "leaky_relu"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::empty_activation(x.shape(), x.dtype(), x.device());
    leaky_relu_backward(dy, dy, x, slope, dx);
    return {dx};
  }
  void release_saved() override { x = Tensor(); }
};
}  // namespace

Variable leaky_relu(const Variable& x, double slope) {
  const Tensor& xt = x.data();
  Tensor y = Tensor::empty_activation(xt.shape(), xt.dtype(), xt.device());
  leaky_relu_forward(xt, xt, slope, y);
  std::shared_ptr<LeakyReluNode> node;
  if (any_requires_grad({x})) {  // in evaluation (no grad) nothing is saved
    node = std::make_shared<LeakyReluNode>();
    node->x = xt;
    node->slope = slope;
  }
  return attach_node(std::move(y), {x}, std::move(node));
}

}  // namespace collapse
