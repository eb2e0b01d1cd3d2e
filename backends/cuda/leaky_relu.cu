// LeakyReLU on the GPU, elementwise over tensors of any rank and layout, float32 and float64
// (backends/cuda/activation.cuh). Same rules as the reference backend: y = x > 0 ? x : slope * x and
// dx = x > 0 ? dy : slope * dy (the derivative at 0 is the slope).
#include "backends/leaky_relu.h"
#include "backends/cuda/activation.cuh"

namespace collapse::cuda {
namespace {

struct LeakyRelu {
  double slope;
  template <class T>
  __device__ T operator()(T v) const {
    return v > T(0) ? v : static_cast<T>(slope) * v;
  }
};

// Gated by the forward's input x.
struct LeakyReluGrad {
  double slope;
  template <class T>
  __device__ T operator()(T dy, T x) const {
    return x > T(0) ? dy : static_cast<T>(slope) * dy;
  }
};

void cuda_leaky_relu_forward(const Tensor& x, double slope, Tensor& y) {
  activation_forward(leaky_relu_forward.name, x, y, LeakyRelu{slope});
}

void cuda_leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope, Tensor& dx) {
  activation_backward(leaky_relu_backward.name, dy, x, "x", dx, LeakyReluGrad{slope});
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(leaky_relu_forward, cuda, &cuda_leaky_relu_forward);
COLLAPSE_REGISTER_KERNEL(leaky_relu_backward, cuda, &cuda_leaky_relu_backward);

}  // namespace collapse::cuda
