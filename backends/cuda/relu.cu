// ReLU, elementwise over tensors of any rank and layout (backends/cuda/activation.cuh).
#include "backends/cuda/activation.cuh"

namespace collapse::cuda {
namespace {

struct Relu {
  template <class T>
  __device__ T operator()(T v) const {
    return v > T(0) ? v : T(0);
  }
};

// Gated by the forward's output: y > 0 exactly where x > 0, and ReLU's derivative at 0 is taken as 0.
struct ReluGrad {
  template <class T>
  __device__ T operator()(T dy, T y) const {
    return y > T(0) ? dy : T(0);
  }
};

void cuda_relu_forward(const Tensor& x, Tensor& y) { activation_forward(relu_forward.name, x, y, Relu{}); }

void cuda_relu_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  activation_backward(relu_backward.name, dy, y, "y", dx, ReluGrad{});
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(relu_forward, cuda, &cuda_relu_forward);
COLLAPSE_REGISTER_KERNEL(relu_backward, cuda, &cuda_relu_backward);

}  // namespace collapse::cuda
