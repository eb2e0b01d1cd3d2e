#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
struct Conv2dNode final : Node {
  Tensor x, w;  // x as the forward read it: channel-blocked where saved_input (below) made it so
  bool input_blocked = false;  // the input itself was blocked (a batch norm's output): so is its gradient
  bool has_bias;
  Conv2dParams p;
  const char* name() const override { return "conv2d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(3);
    if (needs_input_grad(0))  // laid out as x: a blocked x (a batch norm's blocked output) gets a blocked dx
      g[0] = input_blocked ? Tensor::empty(x.shape(), x.dtype(), x.device())
                           : Tensor::empty_activation(logical_shape(x), x.dtype(), x.device());
    if (needs_input_grad(1) || needs_input_grad(2)) {
      g[1] = Tensor::empty(w.shape(), w.dtype(), w.device());
      if (has_bias) g[2] = Tensor::empty({w.size(0)}, w.dtype(), w.device());
    }
    if (g[0].defined() || g[1].defined()) conv2d_backward(x, dy, w, p, g[0], g[1], g[2]);  // one call: dy shared
    return g;
  }
  void release_saved() override { x = w = Tensor(); }
};

// The x that the forward reads and the node saves: a channel-blocked copy (core/blocked_layout.h) where the
// backend computes the convolution on that layout (conv2d_runs_blocked) and the backward will compute the
// weights' gradient, else x itself. The forward would reorder x into that layout anyway, and the
// backward-weights pass would again; made here and kept, the copy saves the second reorder. Where nothing
// else holds the channels-last x (a batch norm's output: its own backward reads its input, not its output),
// that x is freed after the forward and memory does not grow; where something does (a residual block's
// input), the copy costs x's size until the backward. With 16 channels the two layouts are the same bytes
// and x serves as it is. COLLAPSE_BLOCKED_ACTIVATIONS=0 turns this (and blocked outputs) off; results are
// bit-identical either way.
Tensor saved_input(const Tensor& x, const Tensor& w, const Conv2dParams& p, bool weights_gradient) {
  if (!weights_gradient || is_blocked(x) || x.size(1) <= kChannelBlock || !conv2d_takes_blocked(x, w, p)) return x;
  Tensor blocked = Tensor::empty(blocked_shape(x.shape()), x.dtype(), x.device());
  blocked_copy(x, blocked);
  return blocked;
}
}  // namespace

// A question, not work: asked of the backend directly (get), so that profiles show no call for it.
bool conv2d_takes_blocked(const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  if (!blocked_activations_enabled()) return false;
  const Impl impl = impl_for(x);
  return conv2d_runs_blocked.has(impl) && conv2d_runs_blocked.get(impl)(x, w, p);
}

namespace {
// The output conv2d writes: blocked where `output` asks for it and the convolution runs on that layout
// (which a blocked x requires).
Tensor output_for(const Tensor& x, const Tensor& w, const Conv2dParams& p, ConvOutput output) {
  const bool takes_blocked = conv2d_takes_blocked(x, w, p);
  COLLAPSE_CHECK(!is_blocked(x) || takes_blocked, "conv2d: the input ", x.str(),
                 " is channel-blocked, but this convolution does not run on that layout");
  const Shape shape = conv2d_output_shape(logical_shape(x), w.shape(), p);
  return output == ConvOutput::blocked_when_faster && takes_blocked
             ? Tensor::empty(blocked_shape(shape), x.dtype(), x.device())
             : Tensor::empty_activation(shape, x.dtype(), x.device());
}
}  // namespace

Variable conv2d(const Variable& x, const Variable& w, const Variable& b, const Conv2dParams& p, ConvOutput output) {
  const Tensor& wt = w.data();
  const bool build = any_requires_grad({x, w, b});
  Tensor y = output_for(x.data(), wt, p, output);
  const Tensor xt = saved_input(x.data(), wt, p, build && (w.requires_grad() || (b.defined() && b.requires_grad())));
  conv2d_forward(xt, wt, b.defined() ? b.data() : Tensor(), p, y);
  std::shared_ptr<Conv2dNode> node;
  if (build) {
    node = std::make_shared<Conv2dNode>();
    node->x = xt;
    node->input_blocked = is_blocked(x.data());
    node->w = wt;
    node->has_bias = b.defined();
    node->p = p;
  }
  return attach_node(std::move(y), {x, w, b}, std::move(node));
}

Variable conv2d_inference(const Variable& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, bool relu,
                          ConvOutput output) {
  COLLAPSE_CHECK(!grad_mode_enabled(), "conv2d_inference: records no gradient, so it runs only under NoGradGuard");
  Tensor y = output_for(x.data(), w, p, output);
  (relu ? conv2d_relu_forward : conv2d_forward)(x.data(), w, b, p, y);
  return Variable(std::move(y));
}

}  // namespace collapse
