// Channel-wise scaling on the CPU: the products (forward y = x * s and backward dx = dy * s) are one
// oneDNN binary_mul primitive broadcasting s [N,C] over H and W, cached per shape and shared by both
// passes; the per-channel sums ds[n,c] = Σ_hw dy x are an OpenMP loop over the channels-last layout,
// accumulating in double.
#include <vector>

#include "backends/channel_scale.h"
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

// The broadcast operand's shape: [N,C,1,...] with x's rank.
Shape scale_shape(const Shape& x) {
  Shape s(x.size(), 1);
  s[0] = x[0];
  s[1] = x[1];
  return s;
}

struct MulEntry {
  Prim prim;
};
Cache<MulEntry> g_mul;

// out = in * s (broadcast), all f32 on the CPU, in (and out) of x's shape.
void multiply(const Tensor& in, const Tensor& s, Tensor& out) {
  MulEntry& e = g_mul.get(Key("channel_scale_mul") << in.shape(), [&] {
    const auto md = fast_md(in.shape());
    dnnl::binary::desc d(dnnl::algorithm::binary_mul, md, plain_md(scale_shape(in.shape())), md);
    return MulEntry{Prim(dnnl::binary::primitive_desc(d, user_scratchpad_attr(), engine()))};
  });
  const Tensor src = fast_input(in), scale = in_format(s, MemoryFormat::contiguous);
  StagedOutput dst(out);
  e.prim.execute({{DNNL_ARG_SRC_0, src.raw_data()}, {DNNL_ARG_SRC_1, scale.raw_data()},
                  {DNNL_ARG_DST, dst.get().raw_data()}});
  dst.finish();
}

void cpu_channel_scale_forward(const Tensor& x, const Tensor& s, Tensor& y) {
  multiply(x, s, y);
}

void cpu_channel_scale_backward(const Tensor& dy, const Tensor& x, const Tensor& s, Tensor& dx, Tensor& ds) {
  if (dx.defined()) multiply(dy, s, dx);
  if (ds.defined()) {
    // In the fast layout (channels-last for 4-D, row-major for 2-D) element (n, hw, c) sits at
    // (n * HW + hw) * C + c.
    const Tensor dyin = fast_input(dy), xin = fast_input(x);
    StagedOutput out(ds, MemoryFormat::contiguous);
    const int64_t N = x.size(0), C = x.size(1), HW = x.numel() / (N * C > 0 ? N * C : 1);
    const float* dyp = dyin.data<float>();
    const float* xp = xin.data<float>();
    float* dsp = out.data();
#pragma omp parallel for schedule(static) if (N * C * HW > 32768)
    for (int64_t n = 0; n < N; ++n) {
      std::vector<double> acc(static_cast<size_t>(C), 0.0);
      for (int64_t hw = 0; hw < HW; ++hw) {
        const float* a = dyp + (n * HW + hw) * C;
        const float* b = xp + (n * HW + hw) * C;
        for (int64_t c = 0; c < C; ++c) acc[c] += static_cast<double>(a[c]) * b[c];
      }
      for (int64_t c = 0; c < C; ++c) dsp[n * C + c] = static_cast<float>(acc[c]);
    }
    out.finish();
  }
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(channel_scale_forward, cpu, &cpu_channel_scale_forward);
COLLAPSE_REGISTER_KERNEL(channel_scale_backward, cpu, &cpu_channel_scale_backward);

}  // namespace collapse::cpu
