// LeakyReLU on oneDNN's eltwise primitives: algorithm eltwise_relu with alpha = slope computes
// y = x > 0 ? x : alpha * x, and its backward dx = x > 0 ? dy : alpha * dy from the forward's input.
// (eltwise_relu_use_dst_for_bwd would read y instead, but only for alpha >= 0; reading x works for any slope.)
#include "backends/cpu/eltwise.h"
#include "backends/leaky_relu.h"

namespace collapse::cpu {
namespace {

Eltwise leaky(double slope) { return {dnnl::algorithm::eltwise_relu, static_cast<float>(slope)}; }

void cpu_leaky_relu_forward(const Tensor& x, double slope, Tensor& y) { eltwise_forward(leaky(slope), x, y); }
void cpu_leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope, Tensor& dx) {
  eltwise_backward(leaky(slope), dy, x, dx);
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(leaky_relu_forward, cpu, &cpu_leaky_relu_forward);
COLLAPSE_REGISTER_KERNEL(leaky_relu_backward, cpu, &cpu_leaky_relu_backward);

}  // namespace collapse::cpu
