#include "autograd/ops/sigmoid.h"

#include "autograd/node.h"

namespace collapse {
namespace {
struct SigmoidNode final : Node {
  Tensor y;  // the output: dσ/dx = σ(1 - σ)
  const char* name() const override { return "sigmoid"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::empty_activation(y.shape(), y.dtype(), y.device());
    sigmoid_backward(dy, dy, y, dx);
    return {dx};
  }
  void release_saved() override { y = Tensor(); }
};
}  // namespace

Variable sigmoid(const Variable& x) {
  const Tensor& xt = x.data();
  Tensor y = Tensor::empty_activation(xt.shape(), xt.dtype(), xt.device());
  sigmoid_forward(xt, xt, y);
  std::shared_ptr<SigmoidNode> node;
  if (any_requires_grad({x})) {
    node = std::make_shared<SigmoidNode>();
    node->y = y;
  }
  return attach_node(std::move(y), {x}, std::move(node));
}

}  // namespace collapse
