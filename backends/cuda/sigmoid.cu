// Sigmoid on the GPU, elementwise over tensors of any rank and layout, float32 and float64. The backward
// reads the forward's output: dx = dy * y * (1 - y).
#include "autograd/ops/sigmoid.h"
#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

// exp of a non-positive number only, so neither tail overflows.
template <class T>
__device__ T stable_sigmoid(T v) {
  if (v >= T(0)) return T(1) / (T(1) + exp(-v));
  const T e = exp(v);
  return e / (T(1) + e);
}

// Operands (y, x).
template <class T>
__global__ void sigmoid_forward_kernel(int64_t n, StridedIter<2> it, T* y, const T* x) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[2];
    it.offsets(i, off);
    y[off[0]] = stable_sigmoid(x[off[1]]);
  }
}

// Operands (dx, dy, y); dx may alias dy.
template <class T>
__global__ void sigmoid_backward_kernel(int64_t n, StridedIter<3> it, T* dx, const T* dy, const T* y) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[3];
    it.offsets(i, off);
    const T s = y[off[2]];
    dx[off[0]] = dy[off[1]] * s * (T(1) - s);
  }
}

void cuda_sigmoid_forward(const Tensor& x, Tensor& y) {
  const Check check(sigmoid_forward.name);
  check.float_input(x, "x");
  check.like(y, "y", x, "x");
  y.storage()->bump_version();
  const int64_t n = x.numel();
  if (n == 0) return;
  const StridedIter<2> it = make_iter<2>(x.shape(), {&y.strides(), &x.strides()});
  dispatch_float(sigmoid_forward.name, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    sigmoid_forward_kernel<T><<<blocks_for(n), kThreads>>>(n, it, y.data<T>(), x.data<T>());
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_sigmoid_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  const Check check(sigmoid_backward.name);
  check.float_input(dy, "dy");
  check.like(y, "y", dy, "dy");
  check.like(dx, "dx", dy, "dy");
  dx.storage()->bump_version();
  const int64_t n = dy.numel();
  if (n == 0) return;
  const StridedIter<3> it = make_iter<3>(dy.shape(), {&dx.strides(), &dy.strides(), &y.strides()});
  dispatch_float(sigmoid_backward.name, dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    sigmoid_backward_kernel<T><<<blocks_for(n), kThreads>>>(n, it, dx.data<T>(), dy.data<T>(), y.data<T>());
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(sigmoid_forward, cuda, &cuda_sigmoid_forward);
COLLAPSE_REGISTER_KERNEL(sigmoid_backward, cuda, &cuda_sigmoid_backward);

}  // namespace collapse::cuda
