// Linear layers as oneDNN's sgemm on row-major matrices. dnnl::sgemm creates no primitive (it calls the
// library's JIT GEMM directly), so there is nothing to cache; the classifier is small next to the convs.
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

Tensor row_major(const Tensor& t) { return in_format(t, MemoryFormat::contiguous); }

void cpu_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const int64_t N = x.size(0), K = x.size(1), M = w.size(0);
  const Tensor xin = row_major(x), win = row_major(w);
  StagedOutput out(y, MemoryFormat::contiguous);
  float* yp = out.data();
  if (b.defined()) {  // y starts as the bias in every row, and the product accumulates onto it (beta = 1)
    const Tensor bin = row_major(b);
    const float* bp = bin.data<float>();
    for (int64_t n = 0; n < N; ++n) std::copy(bp, bp + M, yp + n * M);
  }
  gemm('N', 'T', N, M, K, xin.data<float>(), K, win.data<float>(), K, b.defined() ? 1.0f : 0.0f, yp, M);
  out.finish();
}

void cpu_linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  const int64_t N = dx.size(0), K = dx.size(1), M = w.size(0);
  const Tensor dyin = row_major(dy), win = row_major(w);
  StagedOutput out(dx, MemoryFormat::contiguous);
  gemm('N', 'N', N, K, M, dyin.data<float>(), M, win.data<float>(), K, 0.0f, out.data(), K);  // dx = dy w
  out.finish();
}

void cpu_linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  const int64_t N = x.size(0), K = x.size(1), M = dw.size(0);
  const Tensor xin = row_major(x), dyin = row_major(dy);
  StagedOutput dw_out(dw, MemoryFormat::contiguous);
  gemm('T', 'N', M, K, N, dyin.data<float>(), M, xin.data<float>(), K, 0.0f, dw_out.data(), K);  // dw = dyᵀ x
  dw_out.finish();
  if (!db.defined()) return;
  // db = column sums of dy, accumulated in double (N can be large, M is the class count).
  StagedOutput db_out(db, MemoryFormat::contiguous);
  const float* g = dyin.data<float>();
  float* out = db_out.data();
#pragma omp parallel for schedule(static) if (M * N > 65536)
  for (int64_t m = 0; m < M; ++m) {
    double s = 0.0;
    for (int64_t n = 0; n < N; ++n) s += g[n * M + m];
    out[m] = static_cast<float>(s);
  }
  db_out.finish();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(linear_forward, cpu, &cpu_linear_forward);
COLLAPSE_REGISTER_KERNEL(linear_backward_data, cpu, &cpu_linear_backward_data);
COLLAPSE_REGISTER_KERNEL(linear_backward_weights, cpu, &cpu_linear_backward_weights);

}  // namespace collapse::cpu
