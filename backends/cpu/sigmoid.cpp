// Sigmoid on oneDNN's eltwise primitives (eltwise_logistic_use_dst_for_bwd: the backward reads the
// forward's output, which autograd saves).
#include "backends/cpu/eltwise.h"
#include "backends/sigmoid.h"

namespace collapse::cpu {
namespace {

const Eltwise kLogistic{dnnl::algorithm::eltwise_logistic_use_dst_for_bwd};

void cpu_sigmoid_forward(const Tensor& x, Tensor& y) { eltwise_forward(kLogistic, x, y); }
void cpu_sigmoid_backward(const Tensor& dy, const Tensor& y, Tensor& dx) { eltwise_backward(kLogistic, dy, y, dx); }

}  // namespace

COLLAPSE_REGISTER_KERNEL(sigmoid_forward, cpu, &cpu_sigmoid_forward);
COLLAPSE_REGISTER_KERNEL(sigmoid_backward, cpu, &cpu_sigmoid_backward);

}  // namespace collapse::cpu
