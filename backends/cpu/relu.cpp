// ReLU on oneDNN's eltwise primitives. The backward reads the forward's output (use_dst_for_bwd), so
// autograd saves y, which the next layer holds anyway, instead of keeping x alive.
#include "backends/cpu/eltwise.h"

namespace collapse::cpu {
namespace {

const Eltwise kRelu{dnnl::algorithm::eltwise_relu_use_dst_for_bwd};

void cpu_relu_forward(const Tensor& x, Tensor& y) { eltwise_forward(kRelu, x, y); }
void cpu_relu_backward(const Tensor& dy, const Tensor& y, Tensor& dx) { eltwise_backward(kRelu, dy, y, dx); }

}  // namespace

COLLAPSE_REGISTER_KERNEL(relu_forward, cpu, &cpu_relu_forward);
COLLAPSE_REGISTER_KERNEL(relu_backward, cpu, &cpu_relu_backward);

}  // namespace collapse::cpu
