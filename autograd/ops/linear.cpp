#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
struct LinearNode final : Node {
  Tensor x, w;
  bool has_bias;
  const char* name() const override { return "linear"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(3);
    if (needs_input_grad(0)) {
      g[0] = Tensor::empty(x.shape(), x.dtype(), x.device());
      linear_backward_data(dy, w, g[0]);
    }
    if (needs_input_grad(1) || needs_input_grad(2)) {
      g[1] = Tensor::empty(w.shape(), w.dtype(), w.device());
      if (has_bias) g[2] = Tensor::empty({w.size(0)}, w.dtype(), w.device());
      linear_backward_weights(x, dy, g[1], g[2]);
    }
    return g;
  }
  void release_saved() override { x = w = Tensor(); }
};
}  // namespace

Variable linear(const Variable& x, const Variable& w, const Variable& b) {
  const Tensor& xt = x.data();
  const Tensor& wt = w.data();
  Tensor y = Tensor::empty(linear_output_shape(xt.shape(), wt.shape()), xt.dtype(), xt.device());
  linear_forward(xt, wt, b.defined() ? b.data() : Tensor(), y);
  std::shared_ptr<LinearNode> node;
  if (any_requires_grad({x, w, b})) {
    node = std::make_shared<LinearNode>();
    node->x = xt;
    node->w = wt;
    node->has_bias = b.defined();
  }
  return attach_node(std::move(y), {x, w, b}, std::move(node));
}

}  // namespace collapse
