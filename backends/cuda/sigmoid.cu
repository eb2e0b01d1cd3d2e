// Sigmoid on the GPU, elementwise over tensors of any rank and layout, float32 and float64
// (backends/cuda/activation.cuh). The backward reads the forward's output: dx = dy * y * (1 - y).
#include "backends/sigmoid.h"
#include "backends/cuda/activation.cuh"

namespace collapse::cuda {
namespace {

// exp of a non-positive number only, so neither tail overflows.
struct Sigmoid {
  template <class T>
  __device__ T operator()(T v) const {
    if (v >= T(0)) return T(1) / (T(1) + exp(-v));
    const T e = exp(v);
    return e / (T(1) + e);
  }
};

struct SigmoidGrad {
  template <class T>
  __device__ T operator()(T dy, T s) const {
    return dy * s * (T(1) - s);
  }
};

void cuda_sigmoid_forward(const Tensor& x, Tensor& y) { activation_forward(sigmoid_forward.name, x, y, Sigmoid{}); }

void cuda_sigmoid_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  activation_backward(sigmoid_backward.name, dy, y, "y", dx, SigmoidGrad{});
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(sigmoid_forward, cuda, &cuda_sigmoid_forward);
COLLAPSE_REGISTER_KERNEL(sigmoid_backward, cuda, &cuda_sigmoid_backward);

}  // namespace collapse::cuda
