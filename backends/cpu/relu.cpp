// ReLU on oneDNN's eltwise primitives. The backward reads the forward's output (use_dst_for_bwd), so
// autograd saves y, which the next layer holds anyway, instead of keeping x alive.
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

constexpr auto kRelu = dnnl::algorithm::eltwise_relu_use_dst_for_bwd;

dnnl::eltwise_forward::primitive_desc forward_pd(const Shape& shape) {
  return {{dnnl::prop_kind::forward_training, kRelu, fast_md(shape), 0.0f, 0.0f}, user_scratchpad_attr(), engine()};
}

struct ReluEntry {
  Prim prim;
};
Cache<ReluEntry> g_forward, g_backward;

void cpu_relu_forward(const Tensor& x, Tensor& y) {
  const char* op = "relu_forward";
  check_f32_cpu(op, "input x", x);
  check_f32_cpu(op, "output y", y);
  check_same_shape(op, "input x", x, "output y", y);
  ReluEntry& e = g_forward.get(Key(op) << x.shape(), [&] { return ReluEntry{Prim(forward_pd(x.shape()))}; });
  const Tensor xin = fast_input(x);
  StagedOutput out(y);
  e.prim.execute({{DNNL_ARG_SRC, xin.raw_data()}, {DNNL_ARG_DST, out.get().raw_data()}});
  out.finish();
}

void cpu_relu_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  const char* op = "relu_backward";
  check_f32_cpu(op, "output gradient dy", dy);
  check_f32_cpu(op, "output y", y);
  check_f32_cpu(op, "input gradient dx", dx);
  check_same_shape(op, "output gradient dy", dy, "output y", y);
  check_same_shape(op, "input gradient dx", dx, "output y", y);
  ReluEntry& e = g_backward.get(Key(op) << y.shape(), [&] {
    const auto md = fast_md(y.shape());
    dnnl::eltwise_backward::desc d(kRelu, md, md, 0.0f, 0.0f);
    return ReluEntry{Prim(dnnl::eltwise_backward::primitive_desc(d, user_scratchpad_attr(), engine(),
                                                                 forward_pd(y.shape())))};
  });
  const Tensor dyin = fast_input(dy), yin = fast_input(y);
  StagedOutput out(dx);
  e.prim.execute({{DNNL_ARG_DIFF_DST, dyin.raw_data()}, {DNNL_ARG_DST, yin.raw_data()},
                  {DNNL_ARG_DIFF_SRC, out.get().raw_data()}});
  out.finish();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(relu_forward, cpu, &cpu_relu_forward);
COLLAPSE_REGISTER_KERNEL(relu_backward, cpu, &cpu_relu_backward);

}  // namespace collapse::cpu
