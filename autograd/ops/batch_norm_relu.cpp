#include "autograd/ops/batch_norm_nodes.h"

namespace collapse {
namespace {

// The batch-norm training node and the ReLU's output, whose zeros mask the gradient.
struct BatchNormReluTrainNode final : BatchNormTrainNode {
  Tensor y;
  BatchNormReluTrainNode(BatchNormTrainNode batch_norm, Tensor y_)
      : BatchNormTrainNode(std::move(batch_norm)), y(std::move(y_)) {}
  const char* name() const override { return "batch_norm_relu"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g = empty_gradients();
    batch_norm_relu_backward(dy, dy, y, x, gamma, save_mean, save_var, eps, g[0], g[1], g[2]);
    return g;
  }
  void release_saved() override {
    BatchNormTrainNode::release_saved();
    y = Tensor();
  }
};

// Evaluation: the ReLU's backward (dy where y > 0), then the affine map's.
struct BatchNormReluEvalNode final : BatchNormEvalNode {
  Tensor y;
  BatchNormReluEvalNode(BatchNormEvalNode batch_norm, Tensor y_)
      : BatchNormEvalNode(std::move(batch_norm)), y(std::move(y_)) {}
  const char* name() const override { return "batch_norm_relu_eval"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor masked = Tensor::empty_activation(y.shape(), y.dtype(), y.device());
    relu_backward(dy, dy, y, masked);
    return BatchNormEvalNode::backward(masked);
  }
  void release_saved() override {
    BatchNormEvalNode::release_saved();
    y = Tensor();
  }
};

}  // namespace

Variable batch_norm_relu(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                         Tensor& running_var, bool training, double momentum, double eps) {
  const Tensor& xt = x.data();
  check_batch_norm_input("batch_norm_relu", xt, gamma.data());
  Tensor y = Tensor::empty_activation(xt.shape(), xt.dtype(), xt.device());
  const bool build = any_requires_grad({x, gamma, beta});
  std::shared_ptr<Node> node;
  if (training) {
    Tensor save_mean = per_channel_like(gamma.data()), save_var = per_channel_like(gamma.data());
    batch_norm_relu_forward_train(xt, xt, gamma.data(), beta.data(), running_mean, running_var, momentum, eps, y,
                                  save_mean, save_var);
    if (build)
      node = std::make_shared<BatchNormReluTrainNode>(BatchNormTrainNode(xt, gamma.data(), save_mean, save_var, eps),
                                                      y);
  } else {
    batch_norm_relu_forward_eval(xt, xt, gamma.data(), beta.data(), running_mean, running_var, eps, y);
    if (build)
      node = std::make_shared<BatchNormReluEvalNode>(
          BatchNormEvalNode(xt, gamma.data(), running_mean, running_var, eps), y);
  }
  return attach_node(std::move(y), {x, gamma, beta}, std::move(node));
}

}  // namespace collapse
