// Max and average pooling on oneDNN (channels-last JIT kernels), and global average pooling as OpenMP
// loops (a reduction over H*W per image that oneDNN would only add a primitive for).
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

using dnnl::algorithm;

struct PoolShape {
  Shape x, y;
  Pool2dParams p;
};

Key pool_key(const char* op, const PoolShape& s) {
  return Key(op) << s.x << s.y << s.p.kernel << s.p.stride << s.p.padding;
}

// Also the hint of the backward pass. Padding is symmetric: with floor division the last window never
// reaches past the right padding, so oneDNN's output size equals conv_out_size.
dnnl::pooling_forward::primitive_desc forward_pd(const PoolShape& s, algorithm alg) {
  const dnnl::memory::dims k{s.p.kernel, s.p.kernel}, st{s.p.stride, s.p.stride}, pad{s.p.padding, s.p.padding};
  dnnl::pooling_forward::desc d(dnnl::prop_kind::forward_training, alg, fast_md(s.x), fast_md(s.y), st, k, pad, pad);
  return {d, user_scratchpad_attr(), engine()};
}

dnnl::pooling_backward::primitive_desc backward_pd(const PoolShape& s, algorithm alg) {
  const dnnl::memory::dims k{s.p.kernel, s.p.kernel}, st{s.p.stride, s.p.stride}, pad{s.p.padding, s.p.padding};
  dnnl::pooling_backward::desc d(alg, fast_md(s.x), fast_md(s.y), st, k, pad, pad);
  return {d, user_scratchpad_attr(), engine(), forward_pd(s, alg)};
}

struct PoolEntry {
  Prim prim;
  size_t workspace_bytes;  // max pooling: the argmax record routing gradients back
};
Cache<PoolEntry> g_forward, g_backward;

// Max pooling with workspace, average pooling (count_include_pad=True) without.
void pool_forward(const char* op, algorithm alg, const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor* workspace) {
  const PoolShape s{x.shape(), y.shape(), p};  // checked by Kernel::check
  PoolEntry& e = g_forward.get(pool_key(op, s), [&] {
    auto pd = forward_pd(s, alg);
    return PoolEntry{Prim(pd), pd.workspace_desc().get_size()};
  });
  if (workspace) {
    Tensor& ws = *workspace;
    const bool reusable = ws.defined() && ws.device().is_cpu() && ws.dtype() == DType::u8 && ws.is_contiguous() &&
                          ws.nbytes() == e.workspace_bytes;
    if (!reusable) ws = Tensor::empty({static_cast<int64_t>(e.workspace_bytes)}, DType::u8);
  }
  const Tensor xin = fast_input(x);
  StagedOutput out(y);
  e.prim.execute({{DNNL_ARG_SRC, xin.raw_data()},
                  {DNNL_ARG_DST, out.get().raw_data()},
                  {DNNL_ARG_WORKSPACE, workspace ? workspace->raw_data() : nullptr}});
  out.finish();
}

void pool_backward(const char* op, algorithm alg, const Tensor& dy, const Tensor* workspace, const Pool2dParams& p,
                   Tensor& dx) {
  const PoolShape s{dx.shape(), dy.shape(), p};
  PoolEntry& e = g_backward.get(pool_key(op, s), [&] {
    auto pd = backward_pd(s, alg);
    return PoolEntry{Prim(pd), pd.workspace_desc().get_size()};
  });
  if (workspace) {
    const Tensor& ws = *workspace;
    COLLAPSE_CHECK(ws.defined() && ws.device().is_cpu() && ws.dtype() == DType::u8 && ws.is_contiguous() &&
                       ws.nbytes() == e.workspace_bytes,
                   op, ": workspace ", ws.str(), " is not the ", e.workspace_bytes,
                   "-byte uint8 record that the cpu max_pool2d_forward writes for dy ", shape_str(dy.shape()));
  }
  const Tensor dyin = fast_input(dy);
  StagedOutput out(dx);
  e.prim.execute({{DNNL_ARG_DIFF_DST, dyin.raw_data()},
                  {DNNL_ARG_WORKSPACE, workspace ? workspace->raw_data() : nullptr},
                  {DNNL_ARG_DIFF_SRC, out.get().raw_data()}});
  out.finish();
}

void cpu_max_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& workspace) {
  pool_forward("max_pool2d_forward", algorithm::pooling_max, x, p, y, &workspace);
}
void cpu_max_pool2d_backward(const Tensor& dy, const Tensor& workspace, const Pool2dParams& p, Tensor& dx) {
  pool_backward("max_pool2d_backward", algorithm::pooling_max, dy, &workspace, p, dx);
}
void cpu_avg_pool2d_forward(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  pool_forward("avg_pool2d_forward", algorithm::pooling_avg_include_padding, x, p, y, nullptr);
}
void cpu_avg_pool2d_backward(const Tensor& dy, const Pool2dParams& p, Tensor& dx) {
  pool_backward("avg_pool2d_backward", algorithm::pooling_avg_include_padding, dy, nullptr, p, dx);
}

// ---- global average pooling. Channels-last makes each image an [H*W, C] matrix: the forward sums its
// rows (unit-stride, vectorised over C), the backward broadcasts dy/(H*W) to every row.

void cpu_global_avg_pool_forward(const Tensor& x, Tensor& y) {
  const int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
  const Tensor xin = in_format(x, MemoryFormat::channels_last);
  StagedOutput out(y, MemoryFormat::contiguous);
  const float* xp = xin.data<float>();
  float* yp = out.data();
  const float inv = 1.0f / static_cast<float>(HW);
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* yr = yp + n * C;
    std::fill(yr, yr + C, 0.0f);
    for (int64_t i = 0; i < HW; ++i) {
      const float* xr = xp + (n * HW + i) * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yr[c] += xr[c];
    }
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) yr[c] *= inv;
  }
  out.finish();
}

void cpu_global_avg_pool_backward(const Tensor& dy, Tensor& dx) {
  const int64_t N = dx.size(0), C = dx.size(1), HW = dx.size(2) * dx.size(3);
  const Tensor dyin = in_format(dy, MemoryFormat::contiguous);
  StagedOutput out(dx, MemoryFormat::channels_last);
  const float* gp = dyin.data<float>();
  float* xp = out.data();
  const float inv = 1.0f / static_cast<float>(HW);
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i) {
      float* xr = xp + (n * HW + i) * C;
      const float* gr = gp + n * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) xr[c] = gr[c] * inv;
    }
  out.finish();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(max_pool2d_forward, cpu, &cpu_max_pool2d_forward);
COLLAPSE_REGISTER_KERNEL(max_pool2d_backward, cpu, &cpu_max_pool2d_backward);
COLLAPSE_REGISTER_KERNEL(avg_pool2d_forward, cpu, &cpu_avg_pool2d_forward);
COLLAPSE_REGISTER_KERNEL(avg_pool2d_backward, cpu, &cpu_avg_pool2d_backward);
COLLAPSE_REGISTER_KERNEL(global_avg_pool_forward, cpu, &cpu_global_avg_pool_forward);
COLLAPSE_REGISTER_KERNEL(global_avg_pool_backward, cpu, &cpu_global_avg_pool_backward);

}  // namespace collapse::cpu
