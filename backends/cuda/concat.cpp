// Concatenation along channels (dim 1) of 2-D or 4-D tensors: each input is copied into its channel
// slice of y by the strided copy kernel. With channels-last tensors a slice is [N*H*W rows] x [c
// contiguous channels] on both sides, which StridedIter reduces to two dimensions.
#include <string>

#include "backends/cuda/common.h"

namespace collapse::cuda {
namespace {

// The concatenation's shape: xs[0]'s shape with the channel counts summed. Every input must agree with
// xs[0] in rank, dtype, device and every size but the channels.
Shape concat_shape(const Check& check, const std::vector<Tensor>& xs) {
  check.that(!xs.empty(), "needs at least one input");
  const Tensor& first = xs[0];
  check.float_input(first, "xs[0]");
  check.that(first.dim() == 2 || first.dim() == 4, "inputs must be [N,C] or [N,C,H,W], xs[0] is ", first.str());
  Shape out = first.shape();
  out[1] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const std::string name = "xs[" + std::to_string(i) + "]";
    check.same_dtype(xs[i], name.c_str(), first, "xs[0]");
    check.rank(xs[i], name.c_str(), first.dim());
    Shape expected = first.shape();
    expected[1] = xs[i].size(1);  // any channel count
    check.shape(xs[i], name.c_str(), expected, "all sizes but the channels must match xs[0] " + first.str());
    out[1] += xs[i].size(1);
  }
  return out;
}

void cuda_concat_channels_forward(const std::vector<Tensor>& xs, Tensor& y) {
  const Check check(concat_channels_forward.name);
  const Shape out = concat_shape(check, xs);
  check.same_dtype(y, "y", xs[0], "xs[0]");
  check.shape(y, "y", out, "the inputs stacked along dim 1");
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
