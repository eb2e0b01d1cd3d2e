#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
struct AddNode final : Node {
  const char* name() const override { return "add"; }
  // Both inputs receive dy itself; the engine copies before it ever accumulates into a shared gradient.
  std::vector<Tensor> backward(const Tensor& dy) override { return {dy, dy}; }
};

struct ScaleNode final : Node {
  double alpha;
  const char* name() const override { return "scale"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = Tensor::empty_activation(dy.shape(), dy.dtype(), dy.device());
    collapse::scale(alpha, dy, dx);
    return {dx};
  }
};
}  // namespace

Variable add(const Variable& a, const Variable& b) {
  const Tensor& at = a.data();
  const Tensor& bt = b.data();
  COLLAPSE_CHECK(at.shape() == bt.shape(), "add: shapes differ, ", at.str(), " and ", bt.str());
  Tensor y = Tensor::empty_activation(at.shape(), at.dtype(), at.device());
  add_forward(at, bt, y);
  return attach_node(std::move(y), {a, b}, any_requires_grad({a, b}) ? std::make_shared<AddNode>() : nullptr);
}

Variable mul_scalar(const Variable& x, double alpha) {
  const Tensor& xt = x.data();
  Tensor y = Tensor::empty_activation(xt.shape(), xt.dtype(), xt.device());
  collapse::scale(alpha, xt, y);
  std::shared_ptr<ScaleNode> node;
  if (any_requires_grad({x})) {
    node = std::make_shared<ScaleNode>();
    node->alpha = alpha;
  }
  return attach_node(std::move(y), {x}, std::move(node));
}

}  // namespace collapse
