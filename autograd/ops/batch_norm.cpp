#include "autograd/ops/batch_norm_nodes.h"

namespace collapse {

Tensor per_channel_like(const Tensor& gamma) { return Tensor::empty(gamma.shape(), gamma.dtype(), gamma.device()); }

void check_batch_norm_input(const char* op, const Tensor& x, const Tensor& gamma, bool training, bool build) {
  const Shape s = logical_shape(x);
  COLLAPSE_CHECK((s.size() == 4 || s.size() == 2) && s[1] == gamma.numel(), op, ": input ", x.str(),
                 " does not match ", gamma.numel(), " channels");
  COLLAPSE_CHECK(!is_blocked(x) || training || !build, op, ": the channel-blocked input ", x.str(),
                 " in evaluation mode with gradients (only training, or evaluation without gradients, takes one)");
}

std::vector<Tensor> BatchNormTrainNode::empty_gradients() const {
  return {Tensor::empty_activation(x.shape(), x.dtype(), x.device()), per_channel_like(gamma), per_channel_like(gamma)};
}

std::vector<Tensor> BatchNormTrainNode::backward(const Tensor& dy) {
  std::vector<Tensor> g = empty_gradients();
  batch_norm_backward(dy, x, gamma, save_mean, save_var, eps, g[0], g[1], g[2]);
  return g;
}

std::vector<Tensor> BatchNormEvalNode::backward(const Tensor& dy) {
  // dx = dy · γ/√(v+ε), computed by running the eval forward on dy with β = 0 and mean = 0.
  std::vector<Tensor> g(3);
  const Tensor zeros = Tensor::zeros(gamma.shape(), gamma.dtype(), gamma.device());
  if (needs_input_grad(0)) {
    g[0] = Tensor::empty_activation(x.shape(), x.dtype(), x.device());
    batch_norm_forward_eval(dy, gamma, zeros, zeros, running_var, eps, g[0]);
  }
  if (needs_input_grad(1) || needs_input_grad(2)) {
    // dγ = Σ dy·x̂ and dβ = Σ dy, with x̂ the normalised input (eval forward with γ = 1, β = 0).
    Tensor ones = Tensor::full(gamma.shape(), 1.0, gamma.dtype(), gamma.device());
    Tensor xhat = Tensor::empty_activation(x.shape(), x.dtype(), x.device());
    batch_norm_forward_eval(x, ones, zeros, running_mean, running_var, eps, xhat);
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

Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum, double eps) {
  const Tensor& xt = x.data();
  const bool build = any_requires_grad({x, gamma, beta});
  check_batch_norm_input("batch_norm", xt, gamma.data(), training, build);
  Tensor y = Tensor::empty_activation(logical_shape(xt), xt.dtype(), xt.device());
  std::shared_ptr<Node> node;
  if (training) {
    Tensor save_mean = per_channel_like(gamma.data()), save_var = per_channel_like(gamma.data());
    batch_norm_forward_train(xt, gamma.data(), beta.data(), running_mean, running_var, momentum, eps, y,
                             save_mean, save_var);
    if (build) node = std::make_shared<BatchNormTrainNode>(xt, gamma.data(), save_mean, save_var, eps);
  } else {
    batch_norm_forward_eval(xt, gamma.data(), beta.data(), running_mean, running_var, eps, y);
    if (build) node = std::make_shared<BatchNormEvalNode>(xt, gamma.data(), running_mean, running_var, eps);
  }
  return attach_node(std::move(y), {x, gamma, beta}, std::move(node));
}

}  // namespace collapse
