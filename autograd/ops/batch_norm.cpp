#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
Tensor per_channel_like(const Tensor& gamma) { return Tensor::empty(gamma.shape(), gamma.dtype(), gamma.device()); }

struct BatchNormTrainNode final : Node {
  Tensor x, gamma, save_mean, save_var;
  double eps;
  const char* name() const override { return "batch_norm"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(3);
    g[0] = Tensor::empty_activation(x.shape(), x.dtype(), x.device());
    g[1] = per_channel_like(gamma);
    g[2] = per_channel_like(gamma);
    batch_norm_backward(dy, dy, x, gamma, save_mean, save_var, eps, g[0], g[1], g[2]);
    return g;
  }
  void release_saved() override { x = gamma = save_mean = save_var = Tensor(); }
};

// Evaluation mode is an affine map per channel, y = a·x + c with a = γ/√(v+ε): its backward needs no kernel of
// its own. Gradients w.r.t. inputs in eval mode matter for DeepFool; γ, β get theirs for completeness.
struct BatchNormEvalNode final : Node {
  Tensor x, gamma, running_mean, running_var;
  double eps;
  const char* name() const override { return "batch_norm_eval"; }
  std::vector<Tensor> backward(const Tensor& dy) override;
  void release_saved() override { x = gamma = running_mean = running_var = Tensor(); }
};

std::vector<Tensor> BatchNormEvalNode::backward(const Tensor& dy) {
  // dx = dy · γ/√(v+ε), computed by running the eval forward on dy with β = 0 and mean = 0.
  std::vector<Tensor> g(3);
  const Tensor zeros = Tensor::zeros(gamma.shape(), gamma.dtype(), gamma.device());
  if (needs_input_grad(0)) {
    g[0] = Tensor::empty_activation(x.shape(), x.dtype(), x.device());
    batch_norm_forward_eval(dy, dy, gamma, zeros, zeros, running_var, eps, g[0]);
  }
  if (needs_input_grad(1) || needs_input_grad(2)) {
    // dγ = Σ dy·x̂ and dβ = Σ dy, with x̂ the normalised input (eval forward with γ = 1, β = 0).
    Tensor ones = Tensor::full(gamma.shape(), 1.0, gamma.dtype(), gamma.device());
    Tensor xhat = Tensor::empty_activation(x.shape(), x.dtype(), x.device());
    batch_norm_forward_eval(x, x, ones, zeros, running_mean, running_var, eps, xhat);
    const int64_t C = gamma.numel();
    std::vector<double> dgamma(C, 0.0), dbeta(C, 0.0);
    const std::vector<double> dyv = dy.to_double_vector(), xv = xhat.to_double_vector();
    const int64_t inner = x.dim() == 4 ? x.size(2) * x.size(3) : 1;
    for (size_t i = 0; i < dyv.size(); ++i) {
      const int64_t c = (static_cast<int64_t>(i) / inner) % C;
      dgamma[c] += dyv[i] * xv[i];
      dbeta[c] += dyv[i];
    }
    g[1] = Tensor::from_vector(dgamma, gamma.shape()).to(gamma.dtype()).to(gamma.device());
    g[2] = Tensor::from_vector(dbeta, gamma.shape()).to(gamma.dtype()).to(gamma.device());
  }
  return g;
}
}  // namespace

Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum, double eps) {
  const Tensor& xt = x.data();
  COLLAPSE_CHECK((xt.dim() == 4 || xt.dim() == 2) && xt.size(1) == gamma.data().numel(), "batch_norm: input ",
                 xt.str(), " does not match ", gamma.data().numel(), " channels");
  Tensor y = Tensor::empty_activation(xt.shape(), xt.dtype(), xt.device());
  const bool build = any_requires_grad({x, gamma, beta});
  if (training) {
    Tensor save_mean = per_channel_like(gamma.data()), save_var = per_channel_like(gamma.data());
    batch_norm_forward_train(xt, xt, gamma.data(), beta.data(), running_mean, running_var, momentum, eps, y,
                             save_mean, save_var);
    std::shared_ptr<BatchNormTrainNode> node;
    if (build) {
      node = std::make_shared<BatchNormTrainNode>();
      node->x = xt;
      node->gamma = gamma.data();
      node->save_mean = save_mean;
      node->save_var = save_var;
      node->eps = eps;
    }
    return attach_node(std::move(y), {x, gamma, beta}, std::move(node));
  }
  batch_norm_forward_eval(xt, xt, gamma.data(), beta.data(), running_mean, running_var, eps, y);
  std::shared_ptr<BatchNormEvalNode> node;
  if (build) {
    node = std::make_shared<BatchNormEvalNode>();
    node->x = xt;
    node->gamma = gamma.data();
    node->running_mean = running_mean.clone();
    node->running_var = running_var.clone();
    node->eps = eps;
  }
  return attach_node(std::move(y), {x, gamma, beta}, std::move(node));
}

}  // namespace collapse
