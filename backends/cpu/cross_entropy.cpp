// Fused log-softmax + cross-entropy (mean over the batch) as OpenMP loops over the rows.
#include <cmath>

#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

// logits/probs-like [N,C] and labels int64 [N] with every label in [0, C).
void check_logits_labels(const char* op, const char* name, const Tensor& logits, const Tensor& labels) {
  check_f32_cpu(op, name, logits);
  check_dim(op, name, logits, 2);
  COLLAPSE_CHECK(labels.defined() && labels.device().is_cpu() && labels.dtype() == DType::i64 && labels.dim() == 1,
                 op, ": labels must be a cpu int64 vector, got ", labels.str());
  COLLAPSE_CHECK(labels.size(0) == logits.size(0), op, ": labels ", shape_str(labels.shape()), " do not match ", name,
                 " ", shape_str(logits.shape()));
  const Tensor l = in_format(labels, MemoryFormat::contiguous);
  const int64_t* lp = l.data<int64_t>();
  for (int64_t n = 0; n < l.numel(); ++n)
    COLLAPSE_CHECK(lp[n] >= 0 && lp[n] < logits.size(1), op, ": label ", lp[n], " of sample ", n, " is outside [0, ",
                   logits.size(1), ") for ", name, " ", shape_str(logits.shape()));
}

void cpu_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs) {
  const char* op = "cross_entropy_forward";
  check_logits_labels(op, "logits", logits, labels);
  check_f32_cpu(op, "loss", loss);
  COLLAPSE_CHECK(loss.numel() == 1, op, ": loss must have one element, got ", shape_str(loss.shape()));
  check_f32_cpu(op, "probs", probs);
  check_same_shape(op, "logits", logits, "probs", probs);
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
  const char* op = "cross_entropy_backward";
  check_logits_labels(op, "probs", probs, labels);
  check_f32_cpu(op, "dlogits", dlogits);
  check_same_shape(op, "probs", probs, "dlogits", dlogits);
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
