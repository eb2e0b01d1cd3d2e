// GELU on oneDNN's eltwise_gelu_erf (the exact form; its backward reads the forward's input).
#include "backends/cpu/eltwise.h"
#include "backends/gelu.h"

namespace collapse::cpu {
namespace {

const Eltwise kGelu{dnnl::algorithm::eltwise_gelu_erf};

void cpu_gelu_forward(const Tensor& x, Tensor& y) { eltwise_forward(kGelu, x, y); }
void cpu_gelu_backward(const Tensor& dy, const Tensor& x, Tensor& dx) { eltwise_backward(kGelu, dy, x, dx); }

}  // namespace

COLLAPSE_REGISTER_KERNEL(gelu_forward, cpu, &cpu_gelu_forward);
COLLAPSE_REGISTER_KERNEL(gelu_backward, cpu, &cpu_gelu_backward);

}  // namespace collapse::cpu
