// Reference batch norm + ReLU: the reference batch-norm and ReLU loops one after the other (float and
// double, any layout), so the fused cpu and cuda kernels are checked against the unfused definition.
#include "backends/batch_norm_relu_composed.h"

namespace collapse::ref {

COLLAPSE_REGISTER_KERNEL(batch_norm_relu_forward_train, ref, &composed_batch_norm_relu_forward_train<Impl::ref>);
COLLAPSE_REGISTER_KERNEL(batch_norm_relu_forward_eval, ref, &composed_batch_norm_relu_forward_eval<Impl::ref>);
COLLAPSE_REGISTER_KERNEL(batch_norm_relu_backward, ref, &composed_batch_norm_relu_backward<Impl::ref>);

}  // namespace collapse::ref
