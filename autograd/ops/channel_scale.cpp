#include "autograd/ops/channel_scale.h"

#include "autograd/node.h"

namespace collapse {
namespace {
struct ChannelScaleNode final : Node {
  Tensor x, s;  // dx needs s, ds needs x
  const char* name() const override { return "channel_scale"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx, ds;
    if (needs_input_grad(0)) dx = Tensor::empty_activation(x.shape(), x.dtype(), x.device());
    if (needs_input_grad(1)) ds = Tensor::empty(s.shape(), s.dtype(), s.device());
    channel_scale_backward(dy, x, s, dx, ds);
    return {dx, ds};
  }
  void release_saved() override { x = s = Tensor(); }
};
}  // namespace

Variable channel_scale(const Variable& x, const Variable& s) {
  const Tensor& xt = x.data();
  const Tensor& st = s.data();
  COLLAPSE_CHECK(xt.dim() == 4 || xt.dim() == 2, "channel_scale: x must be [N,C,H,W] or [N,C], got ", xt.str());
  COLLAPSE_CHECK(st.shape() == Shape({xt.size(0), xt.size(1)}), "channel_scale: s is ", st.str(),
                 ", expected shape [", xt.size(0), ", ", xt.size(1), "] (N and C of x ", xt.str(), ")");
  Tensor y = Tensor::empty_activation(xt.shape(), xt.dtype(), xt.device());
  channel_scale_forward(xt, st, y);
  std::shared_ptr<ChannelScaleNode> node;
  if (any_requires_grad({x, s})) {
    node = std::make_shared<ChannelScaleNode>();
    node->x = xt;
    node->s = st;
  }
  return attach_node(std::move(y), {x, s}, std::move(node));
}

}  // namespace collapse
