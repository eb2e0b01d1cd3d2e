// Reference SGD step with PyTorch's torch.optim.SGD semantics (dampening 0, coupled weight decay):
//   g = grad + weight_decay * p;  v = momentum * v + g (v = g on the first step);
//   p -= lr * (nesterov ? g + momentum * v : v)
// Without momentum there is no buffer and the step is p -= lr * g.
#include <string>

#include "backends/kernels.h"
#include "backends/ref/checks.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

// One parameter's step; `buffer_t` is undefined when there is no momentum.
template <class T>
void sgd_step(const SgdParams& p, Tensor& param_t, const Tensor& grad_t, Tensor& buffer_t) {
  T* param = param_t.data<T>();
  const T* grad = grad_t.data<T>();
  const bool use_buffer = buffer_t.defined();
  T* buffer = use_buffer ? buffer_t.data<T>() : nullptr;
  // An undefined buffer reuses the param's strides; its offsets are then never used.
  const Shape& buffer_strides = use_buffer ? buffer_t.strides() : param_t.strides();
  for_each_offset<3>(param_t.shape(), {param_t.strides(), grad_t.strides(), buffer_strides}, [&](const auto& at) {
    const double g = grad[at[1]] + p.weight_decay * param[at[0]];
    double direction = g;
    if (use_buffer) {
      const double v = p.first_step ? g : p.momentum * buffer[at[2]] + g;
      buffer[at[2]] = static_cast<T>(v);
      direction = p.nesterov ? g + p.momentum * v : v;
    }
    param[at[0]] = static_cast<T>(param[at[0]] - p.lr * direction);
  });
}

// Everything is checked before any parameter moves, so a bad call leaves the model untouched.
void check_sgd_args(const ArgCheck& check, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    const std::vector<Tensor>& buffers, const SgdParams& p) {
  check.that(p.lr >= 0.0 && p.momentum >= 0.0 && p.weight_decay >= 0.0,
             "lr, momentum and weight_decay must be >= 0, got lr ", p.lr, " momentum ", p.momentum, " weight_decay ",
             p.weight_decay);
  check.that(!p.nesterov || p.momentum > 0.0, "nesterov needs a momentum > 0");
  check.that(grads.size() == params.size(), params.size(), " params but ", grads.size(), " grads");
  const bool use_buffers = p.momentum != 0.0;
  check.that(!use_buffers || buffers.size() == params.size(), params.size(), " params but ", buffers.size(),
             " momentum buffers (momentum ", p.momentum, ")");
  for (size_t i = 0; i < params.size(); ++i) {
    std::string index = "[";  // appended piece by piece: "[" + std::to_string(i) trips GCC 12's -Wrestrict (bug 105329)
    index += std::to_string(i);
    index += "]";
    const std::string param = "params" + index, grad = "grads" + index, buffer = "momentum_buffers" + index;
    check.float_input(params[i], param.c_str());
    check.like(grads[i], grad.c_str(), params[i], param.c_str());
    if (use_buffers) check.like(buffers[i], buffer.c_str(), params[i], param.c_str());
  }
}

void ref_sgd_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    std::vector<Tensor>& momentum_buffers, const SgdParams& p) {
  const ArgCheck check(sgd_update.name);
  check_sgd_args(check, params, grads, momentum_buffers, p);
  const bool use_buffers = p.momentum != 0.0;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor no_buffer;
    Tensor& buffer = use_buffers ? momentum_buffers[i] : no_buffer;
    dispatch_float(sgd_update.name, params[i].dtype(),
                   [&](auto tag) { sgd_step<decltype(tag)>(p, params[i], grads[i], buffer); });
    // Caches derived from the parameter (reordered convolution weights) must refresh.
    params[i].storage()->bump_version();
    if (buffer.defined()) buffer.storage()->bump_version();
  }
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(sgd_update, ref, &ref_sgd_update);

}  // namespace collapse::ref
