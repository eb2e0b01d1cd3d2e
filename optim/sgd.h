#pragma once
// SGD with PyTorch's semantics (torch.optim.SGD): coupled weight decay on every parameter, momentum
// without dampening, optional Nesterov:
//   g ← ∇ + λθ;  v ← μv + g;  θ ← θ − lr·(nesterov ? g + μv : v)
// Momentum buffers start at zero, which equals PyTorch's "buffer = g on the first step" when dampening
// is 0. Buffers are part of the checkpoint (state_dict).
#include <vector>

#include "autograd/variable.h"
#include "core/safetensors.h"

namespace collapse {

struct SgdOptions {
  double lr = 0.0679;
  double momentum = 0.9;
  double weight_decay = 5e-4;
  bool nesterov = false;
};

class SGD {
 public:
  SGD(std::vector<Variable> params, SgdOptions options);
  // One update of every parameter that has a gradient (parameters without one are left alone, as PyTorch).
  void step();
  void zero_grad();
  double lr() const { return options_.lr; }
  void set_lr(double lr) { options_.lr = lr; }
  const SgdOptions& options() const { return options_; }
  int64_t steps() const { return steps_; }

  // "momentum_buffer.{i}" for the i-th parameter, and "step" (checkpointed with the model's tensors).
  NamedTensors state_dict() const;
  void load_state_dict(const NamedTensors& state);

 private:
  std::vector<Variable> params_;
  std::vector<Tensor> momentum_;
  SgdOptions options_;
  int64_t steps_ = 0;
  // Reused every step, so the update allocates nothing.
  std::vector<Tensor> step_params_, step_grads_, step_momentum_;
};

// Learning rate multiplied by gamma at each milestone epoch (torch.optim.lr_scheduler.MultiStepLR):
// epochs are 1-based here; epoch e trains with base · gamma^(number of milestones ≤ e − 1).
class MultiStepLR {
 public:
  MultiStepLR(double base_lr, std::vector<int> milestones, double gamma = 0.1);
  double lr_for_epoch(int epoch) const;
  const std::vector<int>& milestones() const { return milestones_; }

 private:
  double base_lr_;
  std::vector<int> milestones_;
  double gamma_;
};

}  // namespace collapse
