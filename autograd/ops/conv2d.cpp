#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
struct Conv2dNode final : Node {
  Tensor x, w;
  bool has_bias;
  Conv2dParams p;
  const char* name() const override { return "conv2d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(3);
    if (needs_input_grad(0)) g[0] = Tensor::empty_activation(x.shape(), x.dtype(), x.device());
    if (needs_input_grad(1) || needs_input_grad(2)) {
      g[1] = Tensor::empty(w.shape(), w.dtype(), w.device());
      if (has_bias) g[2] = Tensor::empty({w.size(0)}, w.dtype(), w.device());
    }
    if (g[0].defined() || g[1].defined()) conv2d_backward(x, dy, w, p, g[0], g[1], g[2]);  // one call: dy shared
    return g;
  }
  void release_saved() override { x = w = Tensor(); }
};
}  // namespace

Variable conv2d(const Variable& x, const Variable& w, const Variable& b, const Conv2dParams& p) {
  const Tensor& xt = x.data();
  const Tensor& wt = w.data();
  Tensor y = Tensor::empty_activation(conv2d_output_shape(xt.shape(), wt.shape(), p), xt.dtype(), xt.device());
  conv2d_forward(xt, wt, b.defined() ? b.data() : Tensor(), p, y);
  std::shared_ptr<Conv2dNode> node;
  if (any_requires_grad({x, w, b})) {
    node = std::make_shared<Conv2dNode>();
    node->x = xt;
    node->w = wt;
    node->has_bias = b.defined();
    node->p = p;
  }
  return attach_node(std::move(y), {x, w, b}, std::move(node));
}

}  // namespace collapse
