// LeakyReLU on the GPU, elementwise over tensors of any rank and layout (strided through StridedIter),
// float32 and float64. Same rules as the reference backend: y = x > 0 ? x : slope * x and
// dx = x > 0 ? dy : slope * dy (the derivative at 0 is the slope).
#include "autograd/ops/leaky_relu.h"
#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

// Operands (y, x).
template <class T>
__global__ void leaky_relu_forward_kernel(int64_t n, StridedIter<2> it, T* y, const T* x, T slope) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[2];
    it.offsets(i, off);
    const T v = x[off[1]];
    y[off[0]] = v > T(0) ? v : slope * v;
  }
}

// Operands (dx, dy, x); dx may alias dy.
template <class T>
__global__ void leaky_relu_backward_kernel(int64_t n, StridedIter<3> it, T* dx, const T* dy, const T* x, T slope) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[3];
    it.offsets(i, off);
    dx[off[0]] = x[off[2]] > T(0) ? dy[off[1]] : slope * dy[off[1]];
  }
}

void cuda_leaky_relu_forward(const Tensor& x, double slope, Tensor& y) {
  const Check check(leaky_relu_forward.name);
  check.float_input(x, "x");
  check.like(y, "y", x, "x");
  y.storage()->bump_version();
  const int64_t n = x.numel();
  if (n == 0) return;
  const StridedIter<2> it = make_iter<2>(x.shape(), {&y.strides(), &x.strides()});
  dispatch_float(leaky_relu_forward.name, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    leaky_relu_forward_kernel<T><<<blocks_for(n), kThreads>>>(n, it, y.data<T>(), x.data<T>(), static_cast<T>(slope));
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope, Tensor& dx) {
  const Check check(leaky_relu_backward.name);
  check.float_input(dy, "dy");
  check.like(x, "x", dy, "dy");
  check.like(dx, "dx", dy, "dy");
  dx.storage()->bump_version();
  const int64_t n = dy.numel();
  if (n == 0) return;
  const StridedIter<3> it = make_iter<3>(dy.shape(), {&dx.strides(), &dy.strides(), &x.strides()});
  dispatch_float(leaky_relu_backward.name, dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    leaky_relu_backward_kernel<T><<<blocks_for(n), kThreads>>>(n, it, dx.data<T>(), dy.data<T>(), x.data<T>(),
                                                               static_cast<T>(slope));
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(leaky_relu_forward, cuda, &cuda_leaky_relu_forward);
COLLAPSE_REGISTER_KERNEL(leaky_relu_backward, cuda, &cuda_leaky_relu_backward);

}  // namespace collapse::cuda
