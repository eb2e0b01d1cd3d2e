// SGD step with PyTorch's torch.optim.SGD semantics (dampening 0, coupled weight decay):
//   g = grad + weight_decay * p;  v = momentum * v + g (v = g on the first step);
//   p -= lr * (nesterov ? g + momentum * v : v)
// Without momentum there is no buffer and the step is p -= lr * g. One launch per parameter tensor; the
// arithmetic is in double with one rounding per stored value, as in the reference backend.
#include <string>

#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

// Operands (param, grad, buffer); `buffer` is null without momentum (its strides are then unused).
template <class T>
__global__ void sgd_kernel(int64_t n, StridedIter<3> it, T* param, const T* grad, T* buffer, SgdParams p) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[3];
    it.offsets(i, off);
    const double g = static_cast<double>(grad[off[1]]) + p.weight_decay * static_cast<double>(param[off[0]]);
    double direction = g;
    if (buffer) {
      const double v = p.first_step ? g : p.momentum * static_cast<double>(buffer[off[2]]) + g;
      buffer[off[2]] = static_cast<T>(v);
      direction = p.nesterov ? g + p.momentum * v : v;
    }
    param[off[0]] = static_cast<T>(static_cast<double>(param[off[0]]) - p.lr * direction);
  }
}

// Everything is checked before any parameter moves, so a bad call leaves the model untouched.
void check_sgd_args(const Check& check, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
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
    // Built by appending (not "params" + index): GCC 12 warns spuriously (-Wrestrict) on the latter.
    auto indexed = [i](const char* what) { return std::string(what).append("[").append(std::to_string(i)).append("]"); };
    const std::string param = indexed("params"), grad = indexed("grads"), buffer = indexed("momentum_buffers");
    check.float_input(params[i], param.c_str());
    check.like(grads[i], grad.c_str(), params[i], param.c_str());
    if (use_buffers) check.like(buffers[i], buffer.c_str(), params[i], param.c_str());
  }
}

void cuda_sgd_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     std::vector<Tensor>& momentum_buffers, const SgdParams& p) {
  const Check check(sgd_update.name);
  check_sgd_args(check, params, grads, momentum_buffers, p);
  const bool use_buffers = p.momentum != 0.0;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor& param = params[i];
    const Tensor& grad = grads[i];
    const Tensor* buffer = use_buffers ? &momentum_buffers[i] : nullptr;
    // Caches derived from the parameter must refresh.
    param.storage()->bump_version();
    if (buffer) buffer->storage()->bump_version();
    const int64_t n = param.numel();
    if (n == 0) continue;
    const StridedIter<3> it =
        make_iter<3>(param.shape(), {&param.strides(), &grad.strides(), buffer ? &buffer->strides() : &param.strides()});
    dispatch_float(sgd_update.name, param.dtype(), [&](auto tag) {
      using T = decltype(tag);
      sgd_kernel<T><<<blocks_for(n), kThreads>>>(n, it, param.data<T>(), grad.data<T>(),
                                                  buffer ? buffer->data<T>() : nullptr, p);
    });
    COLLAPSE_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(sgd_update, cuda, &cuda_sgd_update);

}  // namespace collapse::cuda
