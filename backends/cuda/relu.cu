// ReLU, elementwise over tensors of any rank and layout (strided through StridedIter).
#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

// Operands (y, x).
template <class T>
__global__ void relu_forward_kernel(int64_t n, StridedIter<2> it, T* y, const T* x) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[2];
    it.offsets(i, off);
    const T v = x[off[1]];
    y[off[0]] = v > T(0) ? v : T(0);
  }
}

// Gated by the forward's output: y > 0 exactly where x > 0, and ReLU's derivative at 0 is taken as 0.
// Operands (dx, dy, y); dx may alias dy.
template <class T>
__global__ void relu_backward_kernel(int64_t n, StridedIter<3> it, T* dx, const T* dy, const T* y) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[3];
    it.offsets(i, off);
    dx[off[0]] = y[off[2]] > T(0) ? dy[off[1]] : T(0);
  }
}

void cuda_relu_forward(const Tensor& x, Tensor& y) {
  const Check check(relu_forward.name);
  check.float_input(x, "x");
  check.like(y, "y", x, "x");
  y.storage()->bump_version();
  const int64_t n = x.numel();
  if (n == 0) return;
  const StridedIter<2> it = make_iter<2>(x.shape(), {&y.strides(), &x.strides()});
  dispatch_float(relu_forward.name, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    relu_forward_kernel<T><<<blocks_for(n), kThreads>>>(n, it, y.data<T>(), x.data<T>());
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_relu_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  const Check check(relu_backward.name);
  check.float_input(dy, "dy");
  check.like(y, "y", dy, "dy");
  check.like(dx, "dx", dy, "dy");
  dx.storage()->bump_version();
  const int64_t n = dy.numel();
  if (n == 0) return;
  const StridedIter<3> it = make_iter<3>(dy.shape(), {&dx.strides(), &dy.strides(), &y.strides()});
  dispatch_float(relu_backward.name, dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    relu_backward_kernel<T><<<blocks_for(n), kThreads>>>(n, it, dx.data<T>(), dy.data<T>(), y.data<T>());
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(relu_forward, cuda, &cuda_relu_forward);
COLLAPSE_REGISTER_KERNEL(relu_backward, cuda, &cuda_relu_backward);

}  // namespace collapse::cuda
