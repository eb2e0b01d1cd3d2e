#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
struct FlattenNode final : Node {
  Shape x_shape;
  const char* name() const override { return "flatten"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    // Back to the activation layout the rest of the network expects.
    Tensor dx = Tensor::empty_activation(x_shape, dy.dtype(), dy.device());
    dx.copy_(dy.contiguous().view(x_shape));
    return {dx};
  }
};
}  // namespace

Variable flatten(const Variable& x) {
  const Tensor& xt = x.data();
  COLLAPSE_CHECK(xt.dim() >= 1, "flatten: needs at least 1 dim, got ", xt.str());
  const int64_t n = xt.size(0);
  // PyTorch's flatten order is (C,H,W); a channels-last activation is reordered unless H = W = 1.
  Tensor y = xt.contiguous().view({n, n ? xt.numel() / n : 0});
  std::shared_ptr<FlattenNode> node;
  if (any_requires_grad({x})) {
    node = std::make_shared<FlattenNode>();
    node->x_shape = xt.shape();
  }
  return attach_node(std::move(y), {x}, std::move(node));
}

}  // namespace collapse
