// Fused log-softmax + cross-entropy (mean over the batch) as OpenMP loops over the rows.
#include <cmath>

#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

// Kernel::check has checked the shapes and that every label is in [0, C) (backends/shapes.h).
void cpu_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs) {
  const int64_t N = logits.size(0), C = logits.size(1);
  const Tensor x = in_format(logits, MemoryFormat::contiguous), l = in_format(labels, MemoryFormat::contiguous);
  StagedOutput p(probs, MemoryFormat::contiguous);
  const float* xp = x.data<float>();
  const int64_t* lp = l.data<int64_t>();
  float* pp = p.data();
  // Per row: subtract the max (no overflow in exp), sum the exponentials in double, then
  // loss_n = log(sum) - (x[label] - max). The batch sum is double too: N terms of similar size.
  double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* xr = xp + n * C;
    float* pr = pp + n * C;
    const float m = *std::max_element(xr, xr + C);
    double sum = 0.0;
    for (int64_t c = 0; c < C; ++c) {
      pr[c] = std::exp(xr[c] - m);
      sum += pr[c];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t c = 0; c < C; ++c) pr[c] *= inv;
    total += std::log(sum) - (static_cast<double>(xr[lp[n]]) - m);
  }
  p.finish();
  loss.fill_(N > 0 ? total / static_cast<double>(N) : 0.0);
}

void cpu_cross_entropy_backward(const Tensor& probs, const Tensor& labels, double dloss, Tensor& dlogits) {
  const int64_t N = probs.size(0), C = probs.size(1);
  const Tensor pin = in_format(probs, MemoryFormat::contiguous), l = in_format(labels, MemoryFormat::contiguous);
  StagedOutput out(dlogits, MemoryFormat::contiguous);
  const float* pp = pin.data<float>();
  const int64_t* lp = l.data<int64_t>();
  float* gp = out.data();
  const float k = static_cast<float>(dloss / static_cast<double>(std::max<int64_t>(N, 1)));
#pragma omp parallel for schedule(static) if (N * C > 65536)
  for (int64_t n = 0; n < N; ++n) {
    const float* pr = pp + n * C;
    float* gr = gp + n * C;
    for (int64_t c = 0; c < C; ++c) gr[c] = k * pr[c];
    gr[lp[n]] -= k;
  }
  out.finish();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(cross_entropy_forward, cpu, &cpu_cross_entropy_forward);
COLLAPSE_REGISTER_KERNEL(cross_entropy_backward, cpu, &cpu_cross_entropy_backward);

}  // namespace collapse::cpu
