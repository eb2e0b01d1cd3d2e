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
      const double v = p.momentum * static_cast<double>(buffer[off[2]]) + g;
      buffer[off[2]] = static_cast<T>(v);
      direction = p.nesterov ? g + p.momentum * v : v;
    }
    param[off[0]] = static_cast<T>(static_cast<double>(param[off[0]]) - p.lr * direction);
  }
}

void cuda_sgd_update(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                     std::vector<Tensor>& momentum_buffers, const SgdParams& p) {
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
