#include "optim/sgd.h"

#include <algorithm>

#include "autograd/variable.h"
#include "backends/kernels.h"

namespace collapse {

SGD::SGD(std::vector<Variable> params, SgdOptions options) : params_(std::move(params)), options_(options) {
  COLLAPSE_CHECK(options.lr >= 0 && options.momentum >= 0 && options.weight_decay >= 0, "SGD: lr ", options.lr,
                 ", momentum ", options.momentum, " and weight decay ", options.weight_decay, " must be >= 0");
  COLLAPSE_CHECK(!options.nesterov || options.momentum > 0, "SGD: Nesterov needs momentum > 0");
  for (auto& p : params_) {
    COLLAPSE_CHECK(p.defined() && p.is_leaf(), "SGD: every parameter must be a defined leaf variable");
    momentum_.push_back(Tensor::zeros(p.data().shape(), p.data().dtype(), p.data().device()));
  }
}

void SGD::step() {
  step_params_.clear();
  step_grads_.clear();
  step_momentum_.clear();
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!params_[i].grad().defined()) continue;
    step_params_.push_back(params_[i].data());
    step_grads_.push_back(params_[i].grad());
    step_momentum_.push_back(momentum_[i]);
  }
  ++steps_;
  if (step_params_.empty()) return;
  SgdParams p{options_.lr, options_.momentum, options_.weight_decay, options_.nesterov};
  sgd_update(step_params_, step_grads_, step_momentum_, p);
}

void SGD::zero_grad() {
  for (auto& p : params_) p.zero_grad();
}

NamedTensors SGD::state_dict() const {
  NamedTensors out;
  for (size_t i = 0; i < momentum_.size(); ++i) out.emplace_back("momentum_buffer." + std::to_string(i), momentum_[i]);
  out.emplace_back("step", Tensor::from_vector(std::vector<int64_t>{steps_}, {}));
  return out;
}

void SGD::load_state_dict(const NamedTensors& state) {
  COLLAPSE_CHECK(state.size() == momentum_.size() + 1, "SGD::load_state_dict: ", state.size(), " entries for ",
                 momentum_.size(), " parameters (+ step)");
  for (size_t i = 0; i < momentum_.size(); ++i) {
    const auto& [key, value] = state[i];
    COLLAPSE_CHECK(key == "momentum_buffer." + std::to_string(i) && value.shape() == momentum_[i].shape(),
                   "SGD::load_state_dict: entry '", key, "' ", value.str(), " does not match parameter ", i, " ",
                   momentum_[i].str());
    momentum_[i].copy_(value);
  }
  COLLAPSE_CHECK(state.back().first == "step", "SGD::load_state_dict: last entry must be 'step'");
  steps_ = static_cast<int64_t>(state.back().second.item());
}

MultiStepLR::MultiStepLR(double base_lr, std::vector<int> milestones, double gamma)
    : base_lr_(base_lr), milestones_(std::move(milestones)), gamma_(gamma) {
  std::sort(milestones_.begin(), milestones_.end());
}

double MultiStepLR::lr_for_epoch(int epoch) const {
  double lr = base_lr_;
  for (int m : milestones_)
    if (epoch > m) lr *= gamma_;
  return lr;
}

}  // namespace collapse
