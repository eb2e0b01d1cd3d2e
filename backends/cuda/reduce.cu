// channel_sums (common.h): the bias gradients of convolution and linear layers, db[c] = sum of dy over
// every dimension but the channels, through the deterministic two-stage reduction of kernel_utils.cuh.
#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

template <class T>
__global__ void write_channel_sums_kernel(const Sums* partial, int64_t chunks, int64_t C, T* sums, int64_t stride) {
  const int64_t c = grid_thread();
  if (c < C) sums[c * stride] = static_cast<T>(chunk_total(partial, chunks, C, c).a);
}

}  // namespace

void channel_sums(const char* op, const Tensor& x, Tensor& sums) {
  const Check check(op);
  check.float_input(x, "dy");
  check.that(x.dim() >= 2, "dy must have a channel dimension, got ", x.str());
  check.same_dtype(sums, "db", x, "dy");
  check.shape(sums, "db", {x.size(1)}, "one per channel of dy");
  sums.storage()->bump_version();
  const ChannelIter<1> it = make_channel_iter<1>(x.shape(), {&x.strides()});
  if (it.C == 0) return;
  if (it.M == 0) {
    sums.zero_();
    return;
  }
  const ChunkPlan plan = plan_chunks(it.M);
  const Tensor partial = partial_sums_buffer(plan, it.C, x.device());
  dispatch_float(op, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    launch_channel_partial_sums(it, plan, ValueTerm<T>{x.data<T>()}, as_sums(partial));
    write_channel_sums_kernel<T><<<blocks_for(it.C), kThreads>>>(as_sums(partial), plan.chunks, it.C, sums.data<T>(),
                                                                  sums.strides()[0]);
    COLLAPSE_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace collapse::cuda
