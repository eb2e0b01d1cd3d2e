#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
struct ReluNode final : Node {
  Tensor y;  // the output: the gradient passes where it is positive
  const char* name() const override { return "relu"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::empty_activation(y.shape(), y.dtype(), y.device());
    relu_backward(dy, dy, y, dx);
    return {dx};
  }
  void release_saved() override { y = Tensor(); }
};
}  // namespace

Variable relu(const Variable& x) {
  const Tensor& xt = x.data();
  Tensor y = Tensor::empty_activation(xt.shape(), xt.dtype(), xt.device());
  relu_forward(xt, xt, y);
  std::shared_ptr<ReluNode> node;
  if (any_requires_grad({x})) {
    node = std::make_shared<ReluNode>();
    node->y = y;
  }
  return attach_node(std::move(y), {x}, std::move(node));
}

}  // namespace collapse
