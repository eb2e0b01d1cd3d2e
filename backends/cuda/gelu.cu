// GELU, y = x Φ(x), elementwise over tensors of any rank and layout (backends/cuda/activation.cuh).
#include "backends/cuda/activation.cuh"
#include "backends/gelu.h"

namespace collapse::cuda {
namespace {

struct Gelu {
  template <class T>
  __device__ T operator()(T v) const {
    const double x = static_cast<double>(v);
    return static_cast<T>(x * 0.5 * erfc(-x * M_SQRT1_2));
  }
};

// From the forward's input: dy (Φ(x) + x φ(x)).
struct GeluGrad {
  template <class T>
  __device__ T operator()(T dy, T v) const {
    const double x = static_cast<double>(v);
    const double cdf = 0.5 * erfc(-x * M_SQRT1_2), pdf = exp(-0.5 * x * x) * (M_2_SQRTPI * M_SQRT1_2 * 0.5);
    return static_cast<T>(static_cast<double>(dy) * (cdf + x * pdf));
  }
};

void cuda_gelu_forward(const Tensor& x, Tensor& y) { activation_forward(gelu_forward.name, x, y, Gelu{}); }

void cuda_gelu_backward(const Tensor& dy, const Tensor& x, Tensor& dx) {
  activation_backward(gelu_backward.name, dy, x, "x", dx, GeluGrad{});
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(gelu_forward, cuda, &cuda_gelu_forward);
COLLAPSE_REGISTER_KERNEL(gelu_backward, cuda, &cuda_gelu_backward);

}  // namespace collapse::cuda
