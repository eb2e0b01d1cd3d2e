// Channel-wise scaling on the GPU, float32 and float64, any layouts. The products (y = x * s and
// dx = dy * s) are elementwise kernels that read s [N,C] as a [N,C,H,W] tensor with stride 0 over H and
// W. The per-channel sums ds[n,c] = Σ_hw dy x take one thread per (n, c), c fastest (coalesced on
// channels-last tensors), accumulating in double in a fixed order (deterministic).
#include "backends/channel_scale.h"
#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

// s's strides as seen from x's shape: its own along N and C, 0 along the spatial dimensions.
Shape broadcast_strides(const Tensor& s, const Shape& x_shape) {
  Shape strides(x_shape.size(), 0);
  strides[0] = s.strides()[0];
  strides[1] = s.strides()[1];
  return strides;
}

// Operands (out, in, s broadcast): out = in * s.
template <class T>
__global__ void scale_kernel(int64_t n, StridedIter<3> it, T* out, const T* in, const T* s) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[3];
    it.offsets(i, off);
    out[off[0]] = in[off[1]] * s[off[2]];
  }
}

template <class T>
__global__ void channel_sums_kernel(int64_t N, int64_t C, int64_t H, int64_t W, Strides4 dy_st, const T* dy,
                                    Strides4 x_st, const T* x, Strides4 ds_st, T* ds) {
  for (int64_t i = grid_thread(); i < N * C; i += grid_threads()) {
    const int64_t n = i / C, c = i % C;
    double sum = 0.0;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        sum += static_cast<double>(dy[dy_st.at(n, c, h, w)]) * static_cast<double>(x[x_st.at(n, c, h, w)]);
    ds[ds_st.at(n, c, 0, 0)] = static_cast<T>(sum);
  }
}

// Strides of [N,C,H,W] or of [N,C] read as [N,C,1,1].
Strides4 nchw_strides(const Tensor& t) {
  const Shape& s = t.strides();
  return t.dim() == 4 ? Strides4{s[0], s[1], s[2], s[3]} : Strides4{s[0], s[1], 0, 0};
}

void scale(const char* op, const Tensor& in, const Tensor& s, Tensor& out) {
  out.storage()->bump_version();
  const int64_t n = in.numel();
  if (n == 0) return;
  const Shape s_strides = broadcast_strides(s, in.shape());
  const StridedIter<3> it = make_iter<3>(in.shape(), {&out.strides(), &in.strides(), &s_strides});
  dispatch_float(op, in.dtype(), [&](auto tag) {
    using T = decltype(tag);
    scale_kernel<T><<<blocks_for(n), kThreads>>>(n, it, out.data<T>(), in.data<T>(), s.data<T>());
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_channel_scale_forward(const Tensor& x, const Tensor& s, Tensor& y) {
  scale(channel_scale_forward.name, x, s, y);
}

void cuda_channel_scale_backward(const Tensor& dy, const Tensor& x, const Tensor& s, Tensor& dx, Tensor& ds) {
  const char* op = channel_scale_backward.name;
  if (dx.defined()) {
    scale(op, dy, s, dx);
  }
  if (ds.defined()) {
    ds.storage()->bump_version();
    const int64_t N = x.size(0), C = x.size(1);
    const int64_t H = x.dim() == 4 ? x.size(2) : 1, W = x.dim() == 4 ? x.size(3) : 1;
    if (N * C == 0) return;
    dispatch_float(op, x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      channel_sums_kernel<T><<<blocks_for(N * C), kThreads>>>(N, C, H, W, nchw_strides(dy), dy.data<T>(),
                                                              nchw_strides(x), x.data<T>(), nchw_strides(ds),
                                                              ds.data<T>());
    });
    COLLAPSE_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(channel_scale_forward, cuda, &cuda_channel_scale_forward);
COLLAPSE_REGISTER_KERNEL(channel_scale_backward, cuda, &cuda_channel_scale_backward);

}  // namespace collapse::cuda
