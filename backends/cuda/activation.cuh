#pragma once
// The one launcher behind the elementwise activations (relu, sigmoid, leaky_relu, gelu): strided operands of
// any rank and layout, float32 and float64 (the arguments were checked by the slot's rules, backends/shapes.h).
// An activation supplies two functors with a templated __device__ operator():
//   forward   y  = f(x)
//   backward  dx = g(dy, saved)   saved: the forward's input or output, whichever the primitive keeps
// dx may alias dy (each element is read before it is written).
#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {

template <class T, class F>
__global__ void activation_forward_kernel(int64_t n, StridedIter<2> it, T* y, const T* x, F f) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[2];
    it.offsets(i, off);
    y[off[0]] = f(x[off[1]]);
  }
}

template <class T, class G>
__global__ void activation_backward_kernel(int64_t n, StridedIter<3> it, T* dx, const T* dy, const T* saved, G g) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[3];
    it.offsets(i, off);
    dx[off[0]] = g(dy[off[1]], saved[off[2]]);
  }
}

template <class F>
void activation_forward(const char* op, const Tensor& x, Tensor& y, F f) {
  y.storage()->bump_version();
  const int64_t n = x.numel();
  if (n == 0) return;
  const StridedIter<2> it = make_iter<2>(x.shape(), {&y.strides(), &x.strides()});
  dispatch_float(op, x.dtype(), [&](auto tag) {
    using T = decltype(tag);
    activation_forward_kernel<T><<<blocks_for(n), kThreads>>>(n, it, y.data<T>(), x.data<T>(), f);
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

template <class G>
void activation_backward(const char* op, const Tensor& dy, const Tensor& saved, const char* saved_name, Tensor& dx,
                         G g) {
  dx.storage()->bump_version();
  const int64_t n = dy.numel();
  if (n == 0) return;
  const StridedIter<3> it = make_iter<3>(dy.shape(), {&dx.strides(), &dy.strides(), &saved.strides()});
  dispatch_float(op, dy.dtype(), [&](auto tag) {
    using T = decltype(tag);
    activation_backward_kernel<T><<<blocks_for(n), kThreads>>>(n, it, dx.data<T>(), dy.data<T>(), saved.data<T>(), g);
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

}  // namespace collapse::cuda
