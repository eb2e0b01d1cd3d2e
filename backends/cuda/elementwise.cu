// Elementwise arithmetic: y = a + b, acc += alpha * x (gradient accumulation), y = alpha * x.
// Shapes must match exactly (no broadcasting); layouts may differ, and outputs may alias inputs.
// As in the reference, alpha * x is formed in double and rounded once when stored.
#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

// Operands (y, a, b).
template <class T>
__global__ void add_kernel(int64_t n, StridedIter<3> it, T* y, const T* a, const T* b) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[3];
    it.offsets(i, off);
    y[off[0]] = a[off[1]] + b[off[2]];
  }
}

// out = alpha * x + (accumulate ? out : 0); operands (out, x). Without accumulation the old contents of
// `out` are never read, so an uninitialised output cannot leak NaNs into the result.
template <class T>
__global__ void scaled_update_kernel(int64_t n, StridedIter<2> it, T* out, double alpha, const T* x, bool accumulate) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[2];
    it.offsets(i, off);
    const double scaled = alpha * static_cast<double>(x[off[1]]);
    out[off[0]] = static_cast<T>(accumulate ? scaled + static_cast<double>(out[off[0]]) : scaled);
  }
}

// On views, so that x may also be a broadcast (add_scaled: the bias of conv2d and linear).
void scaled_update(const char* op, const View& out, double alpha, const View& x, bool accumulate) {
  const int64_t n = shape_numel(x.shape);
  if (n == 0) return;
  const StridedIter<2> it = make_iter<2>(x.shape, {&out.strides, &x.strides});
  dispatch_float(op, x.dtype, [&](auto tag) {
    using T = decltype(tag);
    scaled_update_kernel<T><<<blocks_for(n), kThreads>>>(n, it, static_cast<T*>(out.data), alpha,
                                                         static_cast<const T*>(x.data), accumulate);
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_add_forward(const Tensor& a, const Tensor& b, Tensor& y) {
  y.storage()->bump_version();
  const int64_t n = a.numel();
  if (n == 0) return;
  const StridedIter<3> it = make_iter<3>(a.shape(), {&y.strides(), &a.strides(), &b.strides()});
  dispatch_float(add_forward.name, a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    add_kernel<T><<<blocks_for(n), kThreads>>>(n, it, y.data<T>(), a.data<T>(), b.data<T>());
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

void cuda_axpy(double alpha, const Tensor& x, Tensor& acc) {
  acc.storage()->bump_version();
  scaled_update(axpy.name, View::of(acc), alpha, View::of(x), true);
}

void cuda_scale(double alpha, const Tensor& x, Tensor& y) {
  y.storage()->bump_version();
  scaled_update(scale.name, View::of(y), alpha, View::of(x), false);
}

}  // namespace

void add_scaled(const View& acc, double alpha, const View& x) {
  check_same_view_shape("add_scaled", acc, x);
  scaled_update("add_scaled", acc, alpha, x, true);
}

COLLAPSE_REGISTER_KERNEL(add_forward, cuda, &cuda_add_forward);
COLLAPSE_REGISTER_KERNEL(axpy, cuda, &cuda_axpy);
COLLAPSE_REGISTER_KERNEL(scale, cuda, &cuda_scale);

}  // namespace collapse::cuda
