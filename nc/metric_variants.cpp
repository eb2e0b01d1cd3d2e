#include "nc/metric_variants.h"

#include <cmath>
#include <limits>

namespace collapse::nc {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}  // namespace

double etf_gram_error(const Eigen::MatrixXd& vectors) {
  const Eigen::Index C = vectors.cols();
  const Eigen::MatrixXd gram = vectors.transpose() * vectors;
  const double norm = gram.norm();
  if (norm == 0.0 || C < 2) return kNaN;
  const Eigen::MatrixXd etf = (Eigen::MatrixXd::Identity(C, C) - Eigen::MatrixXd::Constant(C, C, 1.0 / C)) /
                              std::sqrt(static_cast<double>(C - 1));
  return (gram / norm - etf).norm();
}

MetricVariants metric_variants(const ClassMeans& means, const FeaturePassTotals& train,
                               const Eigen::MatrixXd& classifier_weights) {
  const int64_t C = means.num_classes();
  const double N = static_cast<double>(train.count());
  MetricVariants v;

  // Tr Σ_W = (1/N) Σ_i ‖h_i − μ_{y_i}‖²; Tr Σ_B = (1/C) Σ_c ‖μ_c − μ_G‖².
  const double trace_within = train.within_class_sq_norms.sum() / N;
  const double trace_between = means.centred.squaredNorm() / static_cast<double>(C);
  v.nc1_quotient = trace_between > 0 ? trace_within / trace_between : kNaN;

  double cdnv_sum = 0.0;
  int64_t pairs = 0;
  Eigen::VectorXd variance(C);
  for (int64_t c = 0; c < C; ++c)
    variance(c) = train.within_class_sq_norms(c) / static_cast<double>(means.counts[static_cast<size_t>(c)]);
  for (int64_t a = 0; a < C; ++a)
    for (int64_t b = a + 1; b < C; ++b, ++pairs) {
      const double distance = (means.means.col(a) - means.means.col(b)).squaredNorm();
      cdnv_sum += distance > 0 ? (variance(a) + variance(b)) / (2.0 * distance) : kNaN;
    }
  v.cdnv = pairs > 0 ? cdnv_sum / static_cast<double>(pairs) : kNaN;

  v.etf_error_means = etf_gram_error(means.centred);
  v.etf_error_classifiers = etf_gram_error(classifier_weights.transpose());

  // NC1_c = Σ_k (1/n_c) Σ_{i in c} (u_kᵀ(h_i − μ_c))² / s_k², as nc1 is with N and all samples.
  const BetweenClassBasis& basis = means.basis;
  v.nc1_per_class.assign(static_cast<size_t>(C), basis.rank() == 0 ? kNaN : 0.0);
  for (int64_t c = 0; c < C && basis.rank() > 0; ++c) {
    double total = 0.0;
    for (int64_t k = 0; k < basis.rank(); ++k)
      total += train.within_class_sq_projections_by_class(k, c) / (basis.singular_values(k) * basis.singular_values(k));
    v.nc1_per_class[static_cast<size_t>(c)] = total / static_cast<double>(means.counts[static_cast<size_t>(c)]);
  }
  return v;
}

}  // namespace collapse::nc
