#include "nc/geometry.h"

#include <cmath>
#include <vector>

namespace collapse::nc {
namespace {

double mean_of(const std::vector<double>& values) {
  double sum = 0.0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

// Two-pass sample standard deviation (n − 1), 0 for a single value.
double sample_std(const std::vector<double>& values) {
  if (values.size() < 2) return 0.0;
  const double mean = mean_of(values);
  double sum_sq = 0.0;
  for (double v : values) sum_sq += (v - mean) * (v - mean);
  return std::sqrt(sum_sq / static_cast<double>(values.size() - 1));
}

}  // namespace

Eigen::MatrixXd pairwise_cosines(const Eigen::MatrixXd& vectors) {
  const Eigen::VectorXd norms = vectors.colwise().norm().transpose();
  const Eigen::MatrixXd gram = vectors.transpose() * vectors;
  return gram.array() / (norms * norms.transpose()).array();
}

VectorSetGeometry vector_set_geometry(const Eigen::MatrixXd& vectors) {
  const int64_t C = vectors.cols();
  std::vector<double> norms(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) norms[static_cast<size_t>(c)] = vectors.col(c).norm();

  const Eigen::MatrixXd cosines = pairwise_cosines(vectors);
  std::vector<double> pair_cosines;
  pair_cosines.reserve(static_cast<size_t>(C * (C - 1) / 2));
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t d = c + 1; d < C; ++d) pair_cosines.push_back(cosines(c, d));
  }
  // The simplex ETF's cosine; the mean over ordered pairs c ≠ c′ equals the mean over c < c′ by symmetry.
  const double etf_cosine = -1.0 / static_cast<double>(C - 1);
  std::vector<double> deviations;
  deviations.reserve(pair_cosines.size());
  for (double cosine : pair_cosines) deviations.push_back(std::abs(cosine - etf_cosine));

  return {sample_std(norms) / mean_of(norms), sample_std(pair_cosines), mean_of(deviations)};
}

double self_duality_distance(const Eigen::MatrixXd& classifier_weights, const Eigen::MatrixXd& centred_means) {
  // Formed directly rather than as 2 − 2⟨W, Ṁᵀ⟩/(‖W‖‖Ṁ‖), which loses everything to cancellation near 0.
  return (classifier_weights / classifier_weights.norm() - centred_means.transpose() / centred_means.norm())
      .squaredNorm();
}

}  // namespace collapse::nc
