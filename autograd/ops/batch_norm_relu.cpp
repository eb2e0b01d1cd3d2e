#include "autograd/ops/batch_norm_nodes.h"

namespace collapse {
namespace {

constexpr size_t kResidual = 3;  // inputs: x, gamma, beta and, when added, the residual

bool has_residual(const Node& node) { return node.next.size() > kResidual; }

// For the residual's gradient: a tensor like x when the residual wants one, else undefined.
Tensor residual_gradient_like(const Node& node, const Tensor& x) {
  return node.needs_input_grad(kResidual) ? Tensor::empty_activation(logical_shape(x), x.dtype(), x.device())
                                          : Tensor();
}

// The batch-norm training node, beta, and with a residual the op's output, whose zeros mask the gradient
// (without one, the backward kernel recomputes the mask from x).
struct BatchNormReluTrainNode final : BatchNormTrainNode {
  Tensor beta, y;
  BatchNormReluTrainNode(BatchNormTrainNode batch_norm, Tensor beta_, Tensor y_)
      : BatchNormTrainNode(std::move(batch_norm)), beta(std::move(beta_)), y(std::move(y_)) {}
  const char* name() const override { return "batch_norm_relu"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g = empty_gradients();
    Tensor dresidual = residual_gradient_like(*this, x);
    batch_norm_relu_backward(dy, y, x, gamma, beta, save_mean, save_var, eps, g[0], dresidual, g[1], g[2]);
    if (has_residual(*this)) g.push_back(std::move(dresidual));
    return g;
  }
  void release_saved() override {
    BatchNormTrainNode::release_saved();
    beta = y = Tensor();
  }
};

// Evaluation: the ReLU's backward (dy where y > 0), which is also the residual's gradient, then the affine map's.
struct BatchNormReluEvalNode final : BatchNormEvalNode {
  Tensor y;
  BatchNormReluEvalNode(BatchNormEvalNode batch_norm, Tensor y_)
      : BatchNormEvalNode(std::move(batch_norm)), y(std::move(y_)) {}
  const char* name() const override { return "batch_norm_relu_eval"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor masked = Tensor::empty_activation(y.shape(), y.dtype(), y.device());
    relu_backward(dy, y, masked);
    std::vector<Tensor> g = BatchNormEvalNode::backward(masked);
    if (has_residual(*this)) g.push_back(needs_input_grad(kResidual) ? masked : Tensor());
    return g;
  }
  void release_saved() override {
    BatchNormEvalNode::release_saved();
    y = Tensor();
  }
};

}  // namespace

Variable batch_norm_add_relu(const Variable& x, const Variable& residual, const Variable& gamma,
                             const Variable& beta, Tensor& running_mean, Tensor& running_var, bool training,
                             double momentum, double eps, bool blocked_output) {
  const char* op = residual.defined() ? "batch_norm_add_relu" : "batch_norm_relu";
  const Tensor& xt = x.data();
  std::vector<Variable> inputs{x, gamma, beta};
  if (residual.defined()) inputs.push_back(residual);
  const bool build = any_requires_grad(inputs);
  check_batch_norm_input(op, xt, gamma.data(), training, build);
  const Shape shape = logical_shape(xt);
  const Tensor rt = residual.defined() ? residual.data() : Tensor();
  COLLAPSE_CHECK(!rt.defined() || rt.shape() == shape, op, ": residual ", rt.defined() ? rt.str() : "",
                 " does not match input ", xt.str());
  COLLAPSE_CHECK(!blocked_output || is_blocked(xt), op, ": a blocked output needs a blocked input, got ", xt.str());
  Tensor y = blocked_output ? Tensor::empty(xt.shape(), xt.dtype(), xt.device())
                            : Tensor::empty_activation(shape, xt.dtype(), xt.device());
  std::shared_ptr<Node> node;
  if (training) {
    Tensor save_mean = per_channel_like(gamma.data()), save_var = per_channel_like(gamma.data());
    batch_norm_relu_forward_train(xt, rt, gamma.data(), beta.data(), running_mean, running_var, momentum, eps,
                                  y, save_mean, save_var);
    if (build)
      node = std::make_shared<BatchNormReluTrainNode>(BatchNormTrainNode(xt, gamma.data(), save_mean, save_var, eps),
                                                      beta.data(), rt.defined() ? y : Tensor());
  } else {
    batch_norm_relu_forward_eval(xt, rt, gamma.data(), beta.data(), running_mean, running_var, eps, y);
    if (build)
      node = std::make_shared<BatchNormReluEvalNode>(
          BatchNormEvalNode(xt, gamma.data(), running_mean, running_var, eps), y);
  }
  return attach_node(std::move(y), inputs, std::move(node));
}

Variable batch_norm_relu(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                         Tensor& running_var, bool training, double momentum, double eps) {
  return batch_norm_add_relu(x, Variable(), gamma, beta, running_mean, running_var, training, momentum, eps);
}

}  // namespace collapse
