// Synchronised batch norm: per-channel sums on each replica (backends/channel_statistics.h), added
// across replicas by the caller's `sum`, turned into the global batch's statistics here in double.
//
// Forward, with n_r values per channel on replica r and N = Σ n_r:
//   μ = Σ n_r·mean_r / N;  M2 = Σ (m2_r + n_r·(mean_r − μ)²)  (Chan et al.'s pairwise update, no cancellation);
//   σ² = M2 / N;  y = γ·(x − μ)·s + β with s = 1/√(σ² + ε).
// Backward, with global sums G = Σ dy and H = Σ dy·(x − μ) over all replicas:
//   dx = γ·s·(dy − G/N − (x − μ)·s²·H/N);  dβ = Σ_local dy;  dγ = s·Σ_local dy·(x − μ).
// dγ and dβ stay local: the data-parallel step sums parameter gradients across replicas afterwards.
#include <cmath>
#include <utility>
#include <vector>

#include "autograd/node.h"
#include "autograd/ops/batch_norm_nodes.h"
#include "backends/channel_statistics.h"

namespace collapse {
namespace {

Tensor per_channel_f64(const std::vector<double>& values) {
  return Tensor::from_vector(values, {static_cast<int64_t>(values.size())});
}

std::vector<double> values_of(const Tensor& t) { return t.to_double_vector(); }

// Writes `values` into a [C] tensor of any dtype and device.
void assign(Tensor& t, const std::vector<double>& values) { t.copy_(per_channel_f64(values)); }

struct SyncBatchNormNode : Node {
  Tensor x, gamma, mean, invstd;  // mean and invstd: float64 [C], the global batch's
  double count;                   // N, values per channel over all replicas
  SumAcrossReplicas sum;
  SyncBatchNormNode(Tensor x_, Tensor gamma_, Tensor mean_, Tensor invstd_, double count_, SumAcrossReplicas sum_)
      : x(std::move(x_)), gamma(std::move(gamma_)), mean(std::move(mean_)), invstd(std::move(invstd_)), count(count_),
        sum(std::move(sum_)) {}
  const char* name() const override { return "sync_batch_norm"; }
  void release_saved() override { x = gamma = mean = invstd = Tensor(); }

  std::vector<Tensor> backward(const Tensor& dy) override {
    const int64_t C = gamma.numel();
    Tensor local_dy = Tensor::empty({C}, DType::f64), local_dyc = Tensor::empty({C}, DType::f64);
    channel_gradient_sums(dy, x, mean, local_dy, local_dyc);
    std::vector<double> sums(static_cast<size_t>(2 * C));
    const double* ldy = local_dy.data<double>();
    const double* ldyc = local_dyc.data<double>();
    std::copy(ldy, ldy + C, sums.begin());
    std::copy(ldyc, ldyc + C, sums.begin() + C);
    sum(sums.data(), 2 * C);  // every replica calls this in the same order: one collective per layer

    const std::vector<double> g = values_of(gamma), mu = values_of(mean), s = values_of(invstd);
    std::vector<double> a(C), b(C), k(C), dgamma(C), dbeta(C);
    for (int64_t c = 0; c < C; ++c) {
      const double mean_dy = sums[c] / count, q = s[c] * s[c] * sums[C + c] / count;
      a[c] = g[c] * s[c];
      b[c] = -a[c] * q;
      k[c] = a[c] * (mu[c] * q - mean_dy);
      dbeta[c] = ldy[c];
      dgamma[c] = s[c] * ldyc[c];
    }
    std::vector<Tensor> grads(3);
    if (needs_input_grad(0)) {
      grads[0] = Tensor::empty_activation(x.shape(), x.dtype(), x.device());
      channel_affine(dy, x, per_channel_f64(a), per_channel_f64(b), per_channel_f64(k), grads[0]);
    }
    grads[1] = per_channel_like(gamma);
    assign(grads[1], dgamma);
    grads[2] = per_channel_like(gamma);
    assign(grads[2], dbeta);
    return grads;
  }
};

}  // namespace

Variable sync_batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                         Tensor& running_var, double momentum, double eps, SumAcrossReplicas sum) {
  const Tensor& xt = x.data();
  check_batch_norm_input("sync_batch_norm", xt, gamma.data(), /*training=*/true, /*build=*/true);
  COLLAPSE_CHECK(!is_blocked(xt), "sync_batch_norm: the input ", xt.str(), " is channel-blocked; it takes plain ones");
  COLLAPSE_CHECK(sum != nullptr, "sync_batch_norm: no function to sum across replicas");
  const int64_t C = xt.size(1);
  Tensor local_mean = Tensor::empty({C}, DType::f64), local_m2 = Tensor::empty({C}, DType::f64);
  channel_moments(xt, local_mean, local_m2);
  const double n = static_cast<double>(xt.numel() / C);
  const double* lm = local_mean.data<double>();
  const double* lm2 = local_m2.data<double>();

  std::vector<double> totals(static_cast<size_t>(C + 1));
  for (int64_t c = 0; c < C; ++c) totals[c] = n * lm[c];
  totals[C] = n;
  sum(totals.data(), C + 1);
  const double count = totals[C];
  std::vector<double> mu(C), spread(C);
  for (int64_t c = 0; c < C; ++c) {
    mu[c] = totals[c] / count;
    spread[c] = lm2[c] + n * (lm[c] - mu[c]) * (lm[c] - mu[c]);
  }
  sum(spread.data(), C);

  const std::vector<double> g = values_of(gamma.data()), be = values_of(beta.data());
  std::vector<double> invstd(C), scale(C), shift(C), rm = values_of(running_mean), rv = values_of(running_var);
  for (int64_t c = 0; c < C; ++c) {
    const double var = spread[c] / count;
    invstd[c] = 1.0 / std::sqrt(var + eps);
    scale[c] = g[c] * invstd[c];
    shift[c] = be[c] - scale[c] * mu[c];
    // Running statistics as batch_norm's: the unbiased variance of the global batch.
    rm[c] = (1.0 - momentum) * rm[c] + momentum * mu[c];
    rv[c] = (1.0 - momentum) * rv[c] + momentum * (count > 1 ? spread[c] / (count - 1.0) : var);
  }
  assign(running_mean, rm);
  assign(running_var, rv);
  Tensor y = Tensor::empty_activation(xt.shape(), xt.dtype(), xt.device());
  channel_affine(Tensor(), xt, Tensor(), per_channel_f64(scale), per_channel_f64(shift), y);
  std::shared_ptr<Node> node;
  if (any_requires_grad({x, gamma, beta}))
    node = std::make_shared<SyncBatchNormNode>(xt, gamma.data(), per_channel_f64(mu), per_channel_f64(invstd), count,
                                               std::move(sum));
  return attach_node(std::move(y), {x, gamma, beta}, std::move(node));
}

}  // namespace collapse
