// x in the channel-blocked layout (core/blocked_layout.h: oneDNN's nChw16c), by oneDNN's reorder.
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

void cpu_blocked_copy(const Tensor& x, Tensor& blocked) {
  const Tensor xin = fast_input(x);
  const dnnl::memory::desc to(dims_of(x.shape()), dnnl::memory::data_type::f32, dnnl::memory::format_tag::nChw16c);
  reorder(fast_md(x.shape()), xin.raw_data(), to, blocked.raw_data());
  count_activation_reorder();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(blocked_copy, cpu, &cpu_blocked_copy);

}  // namespace collapse::cpu
