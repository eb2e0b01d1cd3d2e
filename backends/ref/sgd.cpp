// Reference SGD step with PyTorch's torch.optim.SGD semantics (dampening 0, coupled weight decay):
//   g = grad + weight_decay * p;  v = momentum * v + g (v = g on the first step);
//   p -= lr * (nesterov ? g + momentum * v : v)
// Without momentum there is no buffer and the step is p -= lr * g.
#include <string>

#include "backends/kernels.h"
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
      const double v = p.momentum * buffer[at[2]] + g;
      buffer[at[2]] = static_cast<T>(v);
      direction = p.nesterov ? g + p.momentum * v : v;
    }
    param[at[0]] = static_cast<T>(param[at[0]] - p.lr * direction);
  });
}

void ref_sgd_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                    std::vector<Tensor>& momentum_buffers, const SgdParams& p) {
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
