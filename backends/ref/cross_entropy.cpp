// Reference fused log-softmax + cross-entropy, mean over the batch: logits [N,C], labels int64 [N].
// Log-softmax subtracts each row's maximum before exponentiating, so large logits cannot overflow; all
// sums are accumulated in double.
#include <algorithm>
#include <cmath>

#include "backends/kernels.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

template <class T>
void cross_entropy(const Tensor& logits_t, const Tensor& labels_t, Tensor& loss_t, Tensor& probs_t) {
  View2<const T> logits(logits_t);
  View1<const int64_t> labels(labels_t);
  View2<T> probs(probs_t);
  const int64_t N = logits_t.size(0), C = logits_t.size(1);
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    double row_max = logits(n, 0);
    for (int64_t c = 1; c < C; ++c) row_max = std::max(row_max, static_cast<double>(logits(n, c)));
    double sum_exp = 0.0;
    for (int64_t c = 0; c < C; ++c) sum_exp += std::exp(logits(n, c) - row_max);
    const double log_sum_exp = row_max + std::log(sum_exp);
    for (int64_t c = 0; c < C; ++c) probs(n, c) = static_cast<T>(std::exp(logits(n, c) - log_sum_exp));
    total += log_sum_exp - logits(n, labels(n));  // -log p[label]
  }
  *loss_t.data<T>() = static_cast<T>(total / static_cast<double>(N));
}

// dlogits = dloss * (probs - onehot(labels)) / N
template <class T>
void cross_entropy_grad(const Tensor& probs_t, const Tensor& labels_t, double dloss, Tensor& dlogits_t) {
  View2<const T> probs(probs_t);
  View1<const int64_t> labels(labels_t);
  View2<T> dlogits(dlogits_t);
  const int64_t N = probs_t.size(0), C = probs_t.size(1);
  const double scale = dloss / static_cast<double>(N);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const double onehot = labels(n) == c ? 1.0 : 0.0;
      dlogits(n, c) = static_cast<T>(scale * (probs(n, c) - onehot));
    }
}

void ref_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs) {
  dispatch_float(cross_entropy_forward.name, logits.dtype(),
                 [&](auto tag) { cross_entropy<decltype(tag)>(logits, labels, loss, probs); });
}

void ref_cross_entropy_backward(const Tensor& probs, const Tensor& labels, double dloss, Tensor& dlogits) {
  dispatch_float(cross_entropy_backward.name, probs.dtype(),
                 [&](auto tag) { cross_entropy_grad<decltype(tag)>(probs, labels, dloss, dlogits); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(cross_entropy_forward, ref, &ref_cross_entropy_forward);
COLLAPSE_REGISTER_KERNEL(cross_entropy_backward, ref, &ref_cross_entropy_backward);

}  // namespace collapse::ref
