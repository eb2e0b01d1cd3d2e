// LeakyReLU on oneDNN's eltwise primitives: algorithm eltwise_relu with alpha = slope computes
// y = x > 0 ? x : alpha * x, and its backward dx = x > 0 ? dy : alpha * dy from the forward's input.
// (eltwise_relu_use_dst_for_bwd would read y instead, but only for alpha >= 0; reading x works for any slope.)
// Primitives are created once per (shape, slope) and cached, as backends/cpu/relu.cpp does, so a training
// step creates none after the first.
#include <bit>

#include "backends/leaky_relu.h"
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

constexpr auto kLeakyRelu = dnnl::algorithm::eltwise_relu;

dnnl::eltwise_forward::primitive_desc forward_pd(const Shape& shape, float slope) {
  return {{dnnl::prop_kind::forward_training, kLeakyRelu, fast_md(shape), slope, 0.0f}, user_scratchpad_attr(),
          engine()};
}

// The slope is part of the primitive (oneDNN 2.x bakes alpha in), so it is part of the key: its bits.
Key key_for(const char* op, const Shape& shape, float slope) {
  return Key(op) << shape << static_cast<int64_t>(std::bit_cast<uint32_t>(slope));
}

struct LeakyReluEntry {
  Prim prim;
};
Cache<LeakyReluEntry> g_forward, g_backward;

void cpu_leaky_relu_forward(const Tensor& x, double slope, Tensor& y) {
  const char* op = "leaky_relu_forward";
  check_f32_cpu(op, "input x", x);
  check_f32_cpu(op, "output y", y);
  check_same_shape(op, "input x", x, "output y", y);
  const auto a = static_cast<float>(slope);
  LeakyReluEntry& e = g_forward.get(key_for(op, x.shape(), a), [&] {
    return LeakyReluEntry{Prim(forward_pd(x.shape(), a))};
  });
  const Tensor xin = fast_input(x);
  StagedOutput out(y);
  e.prim.execute({{DNNL_ARG_SRC, xin.raw_data()}, {DNNL_ARG_DST, out.get().raw_data()}});
  out.finish();
}

void cpu_leaky_relu_backward(const Tensor& dy, const Tensor& x, double slope, Tensor& dx) {
  const char* op = "leaky_relu_backward";
  check_f32_cpu(op, "output gradient dy", dy);
  check_f32_cpu(op, "input x", x);
  check_f32_cpu(op, "input gradient dx", dx);
  check_same_shape(op, "output gradient dy", dy, "input x", x);
  check_same_shape(op, "input gradient dx", dx, "input x", x);
  const auto a = static_cast<float>(slope);
  LeakyReluEntry& e = g_backward.get(key_for(op, x.shape(), a), [&] {
    const auto md = fast_md(x.shape());
    dnnl::eltwise_backward::desc d(kLeakyRelu, md, md, a, 0.0f);
    return LeakyReluEntry{Prim(dnnl::eltwise_backward::primitive_desc(d, user_scratchpad_attr(), engine(),
                                                                      forward_pd(x.shape(), a)))};
  });
  const Tensor dyin = fast_input(dy), xin = fast_input(x);
  StagedOutput out(dx);
  e.prim.execute({{DNNL_ARG_DIFF_DST, dyin.raw_data()}, {DNNL_ARG_SRC, xin.raw_data()},
                  {DNNL_ARG_DIFF_SRC, out.get().raw_data()}});
  out.finish();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(leaky_relu_forward, cpu, &cpu_leaky_relu_forward);
COLLAPSE_REGISTER_KERNEL(leaky_relu_backward, cpu, &cpu_leaky_relu_backward);

}  // namespace collapse::cpu
