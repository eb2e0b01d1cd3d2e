#include "backends/cpu/eltwise.h"

#include <bit>

namespace collapse::cpu {
namespace {

using dnnl::algorithm;

bool backward_reads_output(algorithm a) {
  switch (a) {
    case algorithm::eltwise_relu_use_dst_for_bwd:
    case algorithm::eltwise_tanh_use_dst_for_bwd:
    case algorithm::eltwise_elu_use_dst_for_bwd:
    case algorithm::eltwise_sqrt_use_dst_for_bwd:
    case algorithm::eltwise_logistic_use_dst_for_bwd:
    case algorithm::eltwise_exp_use_dst_for_bwd:
    case algorithm::eltwise_clip_v2_use_dst_for_bwd: return true;
    default: return false;
  }
}

// oneDNN 2.x bakes alpha and beta into the primitive, so they are part of the key: their bits.
Key key_for(const char* direction, const Eltwise& op, const Shape& shape) {
  return Key(direction) << static_cast<int64_t>(op.algorithm) << static_cast<int64_t>(std::bit_cast<uint32_t>(op.alpha))
                        << static_cast<int64_t>(std::bit_cast<uint32_t>(op.beta)) << shape;
}

dnnl::eltwise_forward::primitive_desc forward_pd(const Eltwise& op, const Shape& shape) {
  return {{dnnl::prop_kind::forward_training, op.algorithm, fast_md(shape), op.alpha, op.beta}, user_scratchpad_attr(),
          engine()};
}

struct EltwiseEntry {
  Prim prim;
};
Cache<EltwiseEntry> g_forward, g_backward;

}  // namespace

void eltwise_forward(const Eltwise& op, const Tensor& x, Tensor& y) {
  EltwiseEntry& e = g_forward.get(key_for("eltwise_forward", op, x.shape()),
                                  [&] { return EltwiseEntry{Prim(forward_pd(op, x.shape()))}; });
  const Tensor xin = fast_input(x);
  StagedOutput out(y);
  e.prim.execute({{DNNL_ARG_SRC, xin.raw_data()}, {DNNL_ARG_DST, out.get().raw_data()}});
  out.finish();
}

void eltwise_backward(const Eltwise& op, const Tensor& dy, const Tensor& saved, Tensor& dx) {
  EltwiseEntry& e = g_backward.get(key_for("eltwise_backward", op, saved.shape()), [&] {
    const auto md = fast_md(saved.shape());
    dnnl::eltwise_backward::desc d(op.algorithm, md, md, op.alpha, op.beta);
    const auto hint = forward_pd(op, saved.shape());
    return EltwiseEntry{Prim(dnnl::eltwise_backward::primitive_desc(d, user_scratchpad_attr(), engine(), hint))};
  });
  const Tensor dyin = fast_input(dy), sin = fast_input(saved);
  StagedOutput out(dx);
  e.prim.execute({{DNNL_ARG_DIFF_DST, dyin.raw_data()},
                  {backward_reads_output(op.algorithm) ? DNNL_ARG_DST : DNNL_ARG_SRC, sin.raw_data()},
                  {DNNL_ARG_DIFF_SRC, out.get().raw_data()}});
  out.finish();
}

}  // namespace collapse::cpu
