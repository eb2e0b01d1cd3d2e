// The losses of backends/classification_loss.h in plain loops: log-softmax with the row maximum subtracted,
// every sum in double. Registered for the ref and the cpu backends (see the header).
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/classification_loss.h"
#include "backends/ref/float_dispatch.h"
#include "backends/ref/strided.h"

namespace collapse::ref {
namespace {

// log p_c for one row of logits.
template <class T>
void log_softmax_row(const View2<const T>& z, int64_t n, int64_t C, std::vector<double>& log_p) {
  double row_max = z(n, 0);
  for (int64_t c = 1; c < C; ++c) row_max = std::max(row_max, static_cast<double>(z(n, c)));
  double sum_exp = 0.0;
  for (int64_t c = 0; c < C; ++c) sum_exp += std::exp(z(n, c) - row_max);
  const double log_sum_exp = row_max + std::log(sum_exp);
  for (int64_t c = 0; c < C; ++c) log_p[c] = z(n, c) - log_sum_exp;
}

template <class T>
void loss_forward(const Tensor& logits_t, const Tensor& labels_t, const LossSpec& spec, Tensor& loss_t, Tensor& saved_t) {
  const View2<const T> z(logits_t);
  const View1<const int64_t> y(labels_t);
  const View2<T> saved(saved_t);
  const int64_t N = logits_t.size(0), C = logits_t.size(1);
  std::vector<double> log_p(static_cast<size_t>(C));
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) {
    if (spec.kind == LossKind::mse) {
      for (int64_t c = 0; c < C; ++c) {
        const double r = z(n, c) - (c == y(n) ? spec.target : 0.0);
        saved(n, c) = static_cast<T>(r);
        total += 0.5 * r * r;
      }
      continue;
    }
    log_softmax_row(z, n, C, log_p);
    for (int64_t c = 0; c < C; ++c) saved(n, c) = static_cast<T>(std::exp(log_p[c]));
    const double log_py = log_p[y(n)];
    switch (spec.kind) {
      case LossKind::cross_entropy: total -= log_py; break;
      case LossKind::label_smoothing: {
        double mean_log_p = 0.0;
        for (int64_t c = 0; c < C; ++c) mean_log_p += log_p[c] / static_cast<double>(C);
        total -= (1.0 - spec.smoothing) * log_py + spec.smoothing * mean_log_p;
        break;
      }
      case LossKind::focal: total -= std::pow(1.0 - std::exp(log_py), spec.gamma) * log_py; break;
      case LossKind::mse: break;
    }
  }
  *loss_t.data<T>() = static_cast<T>(total / static_cast<double>(N));
}

template <class T>
void loss_backward(const Tensor& saved_t, const Tensor& labels_t, const LossSpec& spec, double dloss, Tensor& dz_t) {
  const View2<const T> saved(saved_t);
  const View1<const int64_t> y(labels_t);
  const View2<T> dz(dz_t);
  const int64_t N = saved_t.size(0), C = saved_t.size(1);
  const double scale = dloss / static_cast<double>(N);
  for (int64_t n = 0; n < N; ++n) {
    // Softmax losses: ∂loss/∂z_c = a·(p_c − e_y,c) + b_c; mse: z − κ e_y (saved).
    double a = 1.0;
    if (spec.kind == LossKind::focal) {
      // L = −(1 − p)^γ log p with p = p_y and ∂p/∂z_c = p (e_y,c − p_c):
      // ∂L/∂z_c = [(1 − p)^γ − γ (1 − p)^(γ−1) p log p] (p_c − e_y,c); p log p → 0 as p → 0.
      const double p = saved(n, y(n)), q = 1.0 - p;
      const double p_log_p = p > 0 ? p * std::log(p) : 0.0;
      a = std::pow(q, spec.gamma) - (spec.gamma > 0 && q > 0 ? spec.gamma * std::pow(q, spec.gamma - 1.0) * p_log_p : 0.0);
    }
    for (int64_t c = 0; c < C; ++c) {
      const double onehot = c == y(n) ? 1.0 : 0.0;
      double g;
      switch (spec.kind) {
        case LossKind::mse: g = saved(n, c); break;
        case LossKind::label_smoothing:
          g = saved(n, c) - ((1.0 - spec.smoothing) * onehot + spec.smoothing / static_cast<double>(C));
          break;
        default: g = a * (saved(n, c) - onehot); break;
      }
      dz(n, c) = static_cast<T>(scale * g);
    }
  }
}

void forward(const Tensor& logits, const Tensor& labels, const LossSpec& spec, Tensor& loss, Tensor& saved) {
  dispatch_float(classification_loss_forward.name, logits.dtype(),
                 [&](auto tag) { loss_forward<decltype(tag)>(logits, labels, spec, loss, saved); });
}

void backward(const Tensor& saved, const Tensor& labels, const LossSpec& spec, double dloss, Tensor& dlogits) {
  dispatch_float(classification_loss_backward.name, saved.dtype(),
                 [&](auto tag) { loss_backward<decltype(tag)>(saved, labels, spec, dloss, dlogits); });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(classification_loss_forward, ref, &forward);
COLLAPSE_REGISTER_KERNEL(classification_loss_backward, ref, &backward);
COLLAPSE_REGISTER_KERNEL(classification_loss_forward, cpu, &forward);
COLLAPSE_REGISTER_KERNEL(classification_loss_backward, cpu, &backward);

}  // namespace collapse::ref
