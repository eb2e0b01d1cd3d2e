// Sigmoid on oneDNN's eltwise primitives (eltwise_logistic_use_dst_for_bwd: the backward reads the
// forward's output, which autograd saves). Primitives are cached per shape.
#include "backends/sigmoid.h"
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

constexpr auto kLogistic = dnnl::algorithm::eltwise_logistic_use_dst_for_bwd;

dnnl::eltwise_forward::primitive_desc forward_pd(const Shape& shape) {
  return {{dnnl::prop_kind::forward_training, kLogistic, fast_md(shape), 0.0f, 0.0f}, user_scratchpad_attr(),
          engine()};
}

struct SigmoidEntry {
  Prim prim;
};
Cache<SigmoidEntry> g_forward, g_backward;

void cpu_sigmoid_forward(const Tensor& x, Tensor& y) {
  const char* op = "sigmoid_forward";
  check_f32_cpu(op, "input x", x);
  check_f32_cpu(op, "output y", y);
  check_same_shape(op, "input x", x, "output y", y);
  SigmoidEntry& e = g_forward.get(Key(op) << x.shape(), [&] { return SigmoidEntry{Prim(forward_pd(x.shape()))}; });
  const Tensor xin = fast_input(x);
  StagedOutput out(y);
  e.prim.execute({{DNNL_ARG_SRC, xin.raw_data()}, {DNNL_ARG_DST, out.get().raw_data()}});
  out.finish();
}

void cpu_sigmoid_backward(const Tensor& dy, const Tensor& y, Tensor& dx) {
  const char* op = "sigmoid_backward";
  check_f32_cpu(op, "output gradient dy", dy);
  check_f32_cpu(op, "output y", y);
  check_f32_cpu(op, "input gradient dx", dx);
  check_same_shape(op, "output gradient dy", dy, "output y", y);
  check_same_shape(op, "input gradient dx", dx, "output y", y);
  SigmoidEntry& e = g_backward.get(Key(op) << y.shape(), [&] {
    const auto md = fast_md(y.shape());
    dnnl::eltwise_backward::desc d(kLogistic, md, md, 0.0f, 0.0f);
    return SigmoidEntry{
        Prim(dnnl::eltwise_backward::primitive_desc(d, user_scratchpad_attr(), engine(), forward_pd(y.shape())))};
  });
  const Tensor dyin = fast_input(dy), yin = fast_input(y);
  StagedOutput out(dx);
  e.prim.execute({{DNNL_ARG_DIFF_DST, dyin.raw_data()}, {DNNL_ARG_DST, yin.raw_data()},
                  {DNNL_ARG_DIFF_SRC, out.get().raw_data()}});
  out.finish();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(sigmoid_forward, cpu, &cpu_sigmoid_forward);
COLLAPSE_REGISTER_KERNEL(sigmoid_backward, cpu, &cpu_sigmoid_backward);

}  // namespace collapse::cpu
