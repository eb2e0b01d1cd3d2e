// Batch norm + ReLU on the GPU: this backend's batch-norm kernels (batch_norm.cu) followed by its ReLU
// kernels (relu.cu), in place. One elementwise pass more than a fused kernel each way, but made only of
// kernels that Cuda/BackendVsRef checks on a GPU: this file was written on a machine without one.
#include "backends/batch_norm_relu_composed.h"

namespace collapse::cuda {

COLLAPSE_REGISTER_KERNEL(batch_norm_relu_forward_train, cuda, &composed_batch_norm_relu_forward_train<Impl::cuda>);
COLLAPSE_REGISTER_KERNEL(batch_norm_relu_forward_eval, cuda, &composed_batch_norm_relu_forward_eval<Impl::cuda>);
COLLAPSE_REGISTER_KERNEL(batch_norm_relu_backward, cuda, &composed_batch_norm_relu_backward<Impl::cuda>);

}  // namespace collapse::cuda
