// Concatenation along channels (dim 1) of 2-D or 4-D tensors: each input is copied into its channel
// slice of y by the strided copy kernel. With channels-last tensors a slice is [N*H*W rows] x [c
// contiguous channels] on both sides, which StridedIter reduces to two dimensions.
#include <string>

#include "backends/cuda/common.h"

namespace collapse::cuda {
namespace {

void cuda_concat_channels_forward(const std::vector<Tensor>& xs, Tensor& y) {
  y.storage()->bump_version();
  int64_t first_channel = 0;
  for (const Tensor& x : xs) {
    strided_copy(View::of(y.narrow(1, first_channel, x.size(1))), View::of(x));
    first_channel += x.size(1);
  }
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(concat_channels_forward, cuda, &cuda_concat_channels_forward);

}  // namespace collapse::cuda
