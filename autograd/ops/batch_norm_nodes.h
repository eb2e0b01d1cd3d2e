#pragma once
// The graph nodes of batch_norm (batch_norm.cpp), shared with the fused batch_norm_relu
// (batch_norm_relu.cpp): its nodes save the same tensors plus the ReLU's output, and their backward is the
// batch-norm backward of the gradient masked where that output is 0.
#include <utility>
#include <vector>

#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {

// An uninitialised [C] tensor like gamma (statistics, parameter gradients).
Tensor per_channel_like(const Tensor& gamma);
// `op` takes x [N,C,H,W] or [N,C] with C = gamma's size, or a blocked [N,C,H,W] (core/blocked_layout.h)
// when training or when no graph is built (`build`).
void check_batch_norm_input(const char* op, const Tensor& x, const Tensor& gamma, bool training, bool build);

// Training mode: backward from the batch statistics of the forward.
struct BatchNormTrainNode : Node {
  Tensor x, gamma, save_mean, save_var;
  double eps;
  BatchNormTrainNode(Tensor x_, Tensor gamma_, Tensor save_mean_, Tensor save_var_, double eps_)
      : x(std::move(x_)), gamma(std::move(gamma_)), save_mean(std::move(save_mean_)), save_var(std::move(save_var_)),
        eps(eps_) {}
  const char* name() const override { return "batch_norm"; }
  std::vector<Tensor> backward(const Tensor& dy) override;
  void release_saved() override { x = gamma = save_mean = save_var = Tensor(); }

 protected:
  std::vector<Tensor> empty_gradients() const;  // dx, dgamma, dbeta, for a backward kernel to fill
};

// Evaluation mode is an affine map per channel, y = a·x + c with a = γ/√(v+ε): its backward needs no kernel of
// its own. Gradients w.r.t. inputs in eval mode matter for DeepFool; γ, β get theirs for completeness.
// The running statistics are copies: training later in the same graph's life must not change them.
struct BatchNormEvalNode : Node {
  Tensor x, gamma, running_mean, running_var;
  double eps;
  BatchNormEvalNode(Tensor x_, Tensor gamma_, const Tensor& running_mean_, const Tensor& running_var_, double eps_)
      : x(std::move(x_)), gamma(std::move(gamma_)), running_mean(running_mean_.clone()),
        running_var(running_var_.clone()), eps(eps_) {}
  const char* name() const override { return "batch_norm_eval"; }
  std::vector<Tensor> backward(const Tensor& dy) override;
  void release_saved() override { x = gamma = running_mean = running_var = Tensor(); }
};

}  // namespace collapse
