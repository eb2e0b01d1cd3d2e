// Pooling over [N,C,H,W] with plain kernels: max pool (argmax workspace), average pool (count_include_pad,
// every window divides by kernel * kernel) and global average pool to [N,C].
//
// Max pool's workspace is an int64 tensor [N,C,Ho,Wo] (channels-last, like y) holding, per output, the
// argmax's index ih * W + iw within its input plane: the reference backend's convention, so the two
// backends route gradients identically. cuDNN's pooling backward would instead need x and y again.
// The first maximum in row-major window order wins ties; NaN propagates (as in PyTorch and the reference).
//
// Backward passes gather rather than scatter: one thread per input element adds the gradients of the
// outputs whose window covers it, in a fixed order, so there are no atomics and results are reproducible.
// Threads walk elements channels-fastest (NHWC order): coalesced on channels-last tensors.
#include <string>

#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

struct PoolDims {
  int64_t N, C, H, W, Ho, Wo, kernel, stride, padding;
  Shape output_shape() const { return {N, C, Ho, Wo}; }
};

// The outputs [first, last] along one axis whose window covers input `in` (empty when first > last).
__device__ inline void covering_outputs(int64_t in, const PoolDims& d, int64_t out_size, int64_t& first,
                                        int64_t& last) {
  const int64_t shifted = in + d.padding;  // position in the padded input
  // Output o covers [o * stride, o * stride + kernel): o >= (shifted - kernel + 1) / stride, rounded up.
  const int64_t lowest = shifted - d.kernel + 1;
  first = lowest <= 0 ? 0 : (lowest + d.stride - 1) / d.stride;
  last = min(shifted / d.stride, out_size - 1);
}

template <class T>
__global__ void max_pool_forward_kernel(PoolDims d, const T* x, Strides4 xs, T* y, Strides4 ys, int64_t* argmax,
                                        Strides4 as) {
  const int64_t n = d.N * d.C * d.Ho * d.Wo;
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    const Nchw o = nhwc_index(i, d.C, d.Ho, d.Wo);
    T best = static_cast<T>(-INFINITY);
    int64_t best_index = -1;
    for (int64_t kh = 0; kh < d.kernel; ++kh) {
      const int64_t ih = o.h * d.stride - d.padding + kh;
      if (ih < 0 || ih >= d.H) continue;
      for (int64_t kw = 0; kw < d.kernel; ++kw) {
        const int64_t iw = o.w * d.stride - d.padding + kw;
        if (iw < 0 || iw >= d.W) continue;
        const T v = x[xs.at(o.n, o.c, ih, iw)];
        if (best_index < 0 || v > best || isnan(v)) {
          best = v;
          best_index = ih * d.W + iw;
        }
      }
    }
    y[ys.at(o.n, o.c, o.h, o.w)] = best;
    argmax[as.at(o.n, o.c, o.h, o.w)] = best_index;
  }
}

template <class T>
__global__ void max_pool_backward_kernel(PoolDims d, const T* dy, Strides4 dys, const int64_t* argmax, Strides4 as,
                                         T* dx, Strides4 dxs) {
  const int64_t n = d.N * d.C * d.H * d.W;
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    const Nchw in = nhwc_index(i, d.C, d.H, d.W);
    const int64_t index = in.h * d.W + in.w;
    int64_t oh0, oh1, ow0, ow1;
    covering_outputs(in.h, d, d.Ho, oh0, oh1);
    covering_outputs(in.w, d, d.Wo, ow0, ow1);
    double sum = 0.0;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow)
        if (argmax[as.at(in.n, in.c, oh, ow)] == index) sum += dy[dys.at(in.n, in.c, oh, ow)];
    dx[dxs.at(in.n, in.c, in.h, in.w)] = static_cast<T>(sum);
  }
}

template <class T>
__global__ void avg_pool_forward_kernel(PoolDims d, const T* x, Strides4 xs, T* y, Strides4 ys) {
  const int64_t n = d.N * d.C * d.Ho * d.Wo;
  const double window = static_cast<double>(d.kernel * d.kernel);
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    const Nchw o = nhwc_index(i, d.C, d.Ho, d.Wo);
    double sum = 0.0;
    for (int64_t kh = 0; kh < d.kernel; ++kh) {
      const int64_t ih = o.h * d.stride - d.padding + kh;
      if (ih < 0 || ih >= d.H) continue;
      for (int64_t kw = 0; kw < d.kernel; ++kw) {
        const int64_t iw = o.w * d.stride - d.padding + kw;
        if (iw >= 0 && iw < d.W) sum += x[xs.at(o.n, o.c, ih, iw)];
      }
    }
    y[ys.at(o.n, o.c, o.h, o.w)] = static_cast<T>(sum / window);
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(PoolDims d, const T* dy, Strides4 dys, T* dx, Strides4 dxs) {
  const int64_t n = d.N * d.C * d.H * d.W;
  const double window = static_cast<double>(d.kernel * d.kernel);
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    const Nchw in = nhwc_index(i, d.C, d.H, d.W);
    int64_t oh0, oh1, ow0, ow1;
    covering_outputs(in.h, d, d.Ho, oh0, oh1);
    covering_outputs(in.w, d, d.Wo, ow0, ow1);
    double sum = 0.0;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) sum += dy[dys.at(in.n, in.c, oh, ow)];
    dx[dxs.at(in.n, in.c, in.h, in.w)] = static_cast<T>(sum / window);
  }
}

// One thread per (n, c), channels fastest; y is [N,C] with strides (ys0, ys1).
template <class T>
__global__ void global_avg_pool_forward_kernel(int64_t N, int64_t C, int64_t H, int64_t W, const T* x, Strides4 xs,
                                               T* y, int64_t ys0, int64_t ys1) {
  for (int64_t i = grid_thread(); i < N * C; i += grid_threads()) {
    const int64_t c = i % C, n = i / C;
    double sum = 0.0;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w) sum += x[xs.at(n, c, h, w)];
    y[n * ys0 + c * ys1] = static_cast<T>(sum / static_cast<double>(H * W));
  }
}

template <class T>
__global__ void global_avg_pool_backward_kernel(int64_t N, int64_t C, int64_t H, int64_t W, const T* dy, int64_t dys0,
                                                int64_t dys1, T* dx, Strides4 dxs) {
  for (int64_t i = grid_thread(); i < N * C * H * W; i += grid_threads()) {
    const Nchw e = nhwc_index(i, C, H, W);
    dx[dxs.at(e.n, e.c, e.h, e.w)] =
        static_cast<T>(static_cast<double>(dy[e.n * dys0 + e.c * dys1]) / static_cast<double>(H * W));
  }
}

// ---------------------------------------------------------------- host side

// The pooling of an input of shape `x` (for backward passes, the shape of dx), checked by Kernel::check.
PoolDims pool_dims(const Tensor& x, const Pool2dParams& p) {
  const Shape& s = x.shape();
  return {s[0], s[1], s[2], s[3], conv_out_size(s[2], p.kernel, p.stride, p.padding),
          conv_out_size(s[3], p.kernel, p.stride, p.padding), p.kernel, p.stride, p.padding};
}

// The workspace is this backend's own (argmax indices on the device): the shared rules leave it to us.
void check_workspace(const char* op, const Tensor& workspace, const Tensor& x, const PoolDims& d) {
  const ArgCheck check(op);
  check.that(workspace.defined() && workspace.dtype() == DType::i64, "workspace is ", workspace.str(),
             ", expected int64 (is the workspace from this backend's max_pool2d_forward?)");
  check.shape(workspace, "workspace", d.output_shape(), "one argmax per output");
  check.that(workspace.device() == x.device(), "workspace is on ", workspace.device().str(), " but the data is on ",
             x.device().str(), " (is the workspace from this backend's max_pool2d_forward?)");
}

void cuda_max_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& workspace) {
  const PoolDims d = pool_dims(x, p);
  if (!workspace.defined())
    workspace = Tensor::empty(d.output_shape(), DType::i64, x.device(), MemoryFormat::channels_last);
  check_workspace(max_pool2d_forward.name, workspace, x, d);
  y.storage()->bump_version();
  workspace.storage()->bump_version();
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_float(max_pool2d_forward.name, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    max_pool_forward_kernel<T><<<blocks_for(n), kThreads>>>(d, x.data<T>(), strides4(x), y.data<T>(), strides4(y),
                                                            workspace.data<int64_t>(), strides4(workspace));
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_max_pool2d_backward(const Tensor& dy, const Tensor& workspace, const Pool2dParams& p, Tensor& dx) {
  const PoolDims d = pool_dims(dx, p);
  check_workspace(max_pool2d_backward.name, workspace, dy, d);
  dx.storage()->bump_version();
  const int64_t n = dx.numel();
  if (n == 0) return;
  dispatch_float(max_pool2d_backward.name, dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    max_pool_backward_kernel<T><<<blocks_for(n), kThreads>>>(d, dy.data<T>(), strides4(dy), workspace.data<int64_t>(),
                                                             strides4(workspace), dx.data<T>(), strides4(dx));
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  const PoolDims d = pool_dims(x, p);
  y.storage()->bump_version();
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_float(avg_pool2d_forward.name, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    avg_pool_forward_kernel<T><<<blocks_for(n), kThreads>>>(d, x.data<T>(), strides4(x), y.data<T>(), strides4(y));
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_avg_pool2d_backward(const Tensor& dy, const Pool2dParams& p, Tensor& dx) {
  const PoolDims d = pool_dims(dx, p);
  dx.storage()->bump_version();
  const int64_t n = dx.numel();
  if (n == 0) return;
  dispatch_float(avg_pool2d_backward.name, dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    avg_pool_backward_kernel<T><<<blocks_for(n), kThreads>>>(d, dy.data<T>(), strides4(dy), dx.data<T>(), strides4(dx));
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_global_avg_pool_forward(const Tensor& x, Tensor& y) {
  y.storage()->bump_version();
  const int64_t N = x.size(0), C = x.size(1);
  if (N * C == 0) return;
  dispatch_float(global_avg_pool_forward.name, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    global_avg_pool_forward_kernel<T><<<blocks_for(N * C), kThreads>>>(
        N, C, x.size(2), x.size(3), x.data<T>(), strides4(x), y.data<T>(), y.strides()[0], y.strides()[1]);
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  dx.storage()->bump_version();
  const int64_t n = dx.numel();
  if (n == 0) return;
  dispatch_float(global_avg_pool_backward.name, dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    global_avg_pool_backward_kernel<T><<<blocks_for(n), kThreads>>>(dx.size(0), dx.size(1), dx.size(2), dx.size(3),
                                                                     dy.data<T>(), dy.strides()[0], dy.strides()[1],
                                                                     dx.data<T>(), strides4(dx));
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(max_pool2d_forward, cuda, &cuda_max_pool2d_forward);
COLLAPSE_REGISTER_KERNEL(max_pool2d_backward, cuda, &cuda_max_pool2d_backward);
COLLAPSE_REGISTER_KERNEL(avg_pool2d_forward, cuda, &cuda_avg_pool2d_forward);
COLLAPSE_REGISTER_KERNEL(avg_pool2d_backward, cuda, &cuda_avg_pool2d_backward);
COLLAPSE_REGISTER_KERNEL(global_avg_pool_forward, cuda, &cuda_global_avg_pool_forward);
COLLAPSE_REGISTER_KERNEL(global_avg_pool_backward, cuda, &cuda_global_avg_pool_backward);

}  // namespace collapse::cuda
