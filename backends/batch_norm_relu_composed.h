#pragma once
// batch_norm_relu_* (kernels.h) as a backend's own batch-norm slot followed by its ReLU slot, for the
// backends where correctness matters more than the passes saved: ref (the test oracle) and cuda (built
// without a GPU to test on, so it reuses the kernels Cuda/BackendVsRef already checks). The cpu backend fuses for
// real (backends/cpu/batch_norm.cpp).
#include "backends/kernels.h"

namespace collapse {

// The residual added to y and the ReLU applied, in place (both backends' elementwise kernels allow it).
template <Impl I>
void add_residual_then_relu(const Tensor& residual, Tensor& y) {
  if (residual.defined()) add_forward.get(I)(y, residual, y);
  relu_forward.get(I)(y, y);
}

template <Impl I>
void composed_batch_norm_relu_forward_train(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                            const Tensor& beta, Tensor& running_mean, Tensor& running_var,
                                            double momentum, double eps, Tensor& y, Tensor& save_mean,
                                            Tensor& save_var) {
  batch_norm_forward_train.get(I)(x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean, save_var);
  add_residual_then_relu<I>(residual, y);
}

template <Impl I>
void composed_batch_norm_relu_forward_eval(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                           const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                           double eps, Tensor& y) {
  batch_norm_forward_eval.get(I)(x, gamma, beta, running_mean, running_var, eps, y);
  add_residual_then_relu<I>(residual, y);
}

// dy masked by y > 0 into dx (copied to dresidual), then the batch-norm backward from dx into dx: both
// backends' batch-norm backward finish reading dy before writing dx, so dx may alias dy there. Without y,
// y is recomputed first: the eval forward with the batch statistics is the training forward's normalisation.
template <Impl I>
void composed_batch_norm_relu_backward(const Tensor& dy, const Tensor& y, const Tensor& x, const Tensor& gamma,
                                       const Tensor& beta, const Tensor& save_mean, const Tensor& save_var,
                                       double eps, Tensor& dx, Tensor& dresidual, Tensor& dgamma, Tensor& dbeta) {
  Tensor recomputed;
  if (!y.defined()) {
    recomputed = Tensor::empty_activation(x.shape(), x.dtype(), x.device());
    composed_batch_norm_relu_forward_eval<I>(x, Tensor(), gamma, beta, save_mean, save_var, eps, recomputed);
  }
  relu_backward.get(I)(dy, y.defined() ? y : recomputed, dx);
  if (dresidual.defined()) dresidual.copy_(dx);
  batch_norm_backward.get(I)(dx, x, gamma, save_mean, save_var, eps, dx, dgamma, dbeta);
}

}  // namespace collapse
