#pragma once
// Shared by the tests/test_nc_*.cpp files: synthetic features with known geometry (a rotated, scaled,
// translated simplex ETF, Gaussian clusters) and a one-call run of the two-pass analysis.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>
#include <vector>

#include <Eigen/Dense>

#include "core/rng.h"
#include "nc/collapse_analyzer.h"
#include "nc/linear_classifier.h"

namespace collapse::nc::testing {

using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Features n × p row-major (double) with their labels.
struct FeatureSet {
  int64_t num_classes = 0;
  int64_t dim = 0;
  std::vector<double> features;
  std::vector<int64_t> labels;

  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  std::vector<float> features_f32() const { return std::vector<float>(features.begin(), features.end()); }
};

inline Eigen::MatrixXd gaussian_matrix(int64_t rows, int64_t cols, Generator& gen) {
  Eigen::MatrixXd m(rows, cols);
  for (int64_t j = 0; j < cols; ++j)
    for (int64_t i = 0; i < rows; ++i) m(i, j) = gen.normal();
  return m;
}

// Haar-random orthogonal p × p matrix: QR of a Gaussian matrix with the signs of R's diagonal fixed.
inline Eigen::MatrixXd random_orthogonal(int64_t p, Generator& gen) {
  Eigen::HouseholderQR<Eigen::MatrixXd> qr(gaussian_matrix(p, p, gen));
  Eigen::MatrixXd q = qr.householderQ();
  const Eigen::MatrixXd r = qr.matrixQR();
  for (int64_t j = 0; j < p; ++j)
    if (r(j, j) < 0) q.col(j) *= -1.0;
  return q;
}

inline Eigen::VectorXd random_vector_of_norm(int64_t p, double norm, Generator& gen) {
  const Eigen::VectorXd v = gaussian_matrix(p, 1, gen);
  return v * (norm / v.norm());
}

// Class means at the vertices of the simplex ETF M* = √(C/(C−1))(I − 11ᵀ/C), embedded in p ≥ C dimensions
// by the first C columns of a random rotation, scaled by `scale` (each ‖μ_c − μ_G‖ = scale) and
// translated by `offset` (= μ_G). Returns p × C.
inline Eigen::MatrixXd simplex_etf_means(int64_t C, int64_t p, double scale, const Eigen::VectorXd& offset,
                                         Generator& gen) {
  const double c = static_cast<double>(C);
  const Eigen::MatrixXd etf =
      std::sqrt(c / (c - 1.0)) * (Eigen::MatrixXd::Identity(C, C) - Eigen::MatrixXd::Constant(C, C, 1.0 / c));
  const Eigen::MatrixXd embedding = random_orthogonal(p, gen).leftCols(C);
  return (scale * embedding * etf).colwise() + offset;
}

// counts[c] samples of class c at μ_c + noise · N(0, I), classes interleaved. With `centre_noise`, each
// class's noise is made exactly zero-mean, so the class means are exactly `means` whatever the noise
// amplitude (the noise realisation is drawn first, then scaled: the same `seed` gives proportional noise).
inline FeatureSet features_around(const Eigen::MatrixXd& means, const std::vector<int64_t>& counts, double noise,
                                  uint64_t seed, bool centre_noise = false) {
  Generator gen(seed);
  const int64_t p = means.rows();
  const int64_t C = means.cols();
  FeatureSet set{C, p, {}, {}};
  const int64_t most = *std::max_element(counts.begin(), counts.end());
  for (int64_t k = 0; k < most; ++k)
    for (int64_t c = 0; c < C; ++c)
      if (k < counts[static_cast<size_t>(c)]) set.labels.push_back(c);

  Eigen::MatrixXd draws = gaussian_matrix(p, set.size(), gen);  // one column per sample
  if (centre_noise) {
    Eigen::MatrixXd class_noise_mean = Eigen::MatrixXd::Zero(p, C);
    for (int64_t i = 0; i < set.size(); ++i) class_noise_mean.col(set.labels[i]) += draws.col(i);
    for (int64_t c = 0; c < C; ++c) class_noise_mean.col(c) /= static_cast<double>(counts[static_cast<size_t>(c)]);
    for (int64_t i = 0; i < set.size(); ++i) draws.col(i) -= class_noise_mean.col(set.labels[i]);
  }
  set.features.resize(static_cast<size_t>(set.size() * p));
  for (int64_t i = 0; i < set.size(); ++i)
    for (int64_t j = 0; j < p; ++j) set.features[i * p + j] = means(j, set.labels[i]) + noise * draws(j, i);
  return set;
}

// Applies h ↦ scale · R h + t to every sample.
inline FeatureSet transformed(const FeatureSet& set, double scale, const Eigen::MatrixXd& rotation,
                              const Eigen::VectorXd& translation) {
  FeatureSet out = set;
  Eigen::Map<const RowMajorMatrix> h(set.features.data(), set.size(), set.dim);
  Eigen::Map<RowMajorMatrix> result(out.features.data(), set.size(), set.dim);
  result = ((scale * h * rotation.transpose()).rowwise() + translation.transpose());
  return out;
}

inline std::vector<int64_t> uniform_counts(int64_t C, int64_t per_class) {
  return std::vector<int64_t>(static_cast<size_t>(C), per_class);
}

// A classifier to go with the features.
struct Classifier {
  Eigen::MatrixXd weights;  // C × p
  Eigen::VectorXd bias;     // C
};

// W = αṀᵀ, b = −αṀᵀμ_G: the self-dual classifier of NEURAL_COLLAPSE.md §4.
inline Classifier self_dual_classifier(const Eigen::MatrixXd& means, double alpha) {
  const Eigen::VectorXd global_mean = means.rowwise().mean();
  const Eigen::MatrixXd centred = means.colwise() - global_mean;
  return {alpha * centred.transpose(), -alpha * centred.transpose() * global_mean};
}

inline Classifier random_classifier(int64_t C, int64_t p, Generator& gen) {
  return {gaussian_matrix(C, p, gen), gaussian_matrix(C, 1, gen)};
}

// How a pass feeds a set: batch size, and the order of the samples (a permutation; empty = as stored).
struct BatchPlan {
  int64_t batch_size = 1 << 30;
  std::vector<int64_t> order;  // a permutation of the samples, or empty
};

// The samples of `set` in the order `order` (unchanged when empty).
inline FeatureSet reordered(const FeatureSet& set, const std::vector<int64_t>& order) {
  if (order.empty()) return set;
  FeatureSet out{set.num_classes, set.dim, std::vector<double>(set.features.size()),
                 std::vector<int64_t>(order.size())};
  for (size_t i = 0; i < order.size(); ++i) {
    out.labels[i] = set.labels[static_cast<size_t>(order[i])];
    std::copy_n(set.features.begin() + order[i] * set.dim, set.dim,
                out.features.begin() + static_cast<int64_t>(i) * set.dim);
  }
  return out;
}

inline std::vector<int64_t> random_permutation(int64_t n, Generator& gen) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[gen.below(static_cast<uint64_t>(i + 1))]);
  return order;
}

// The two-pass analysis of `train` (and `test`, if given) with the classifier. `plan1`/`plan2` set the
// batching and order of pass 1 and pass 2, so tests can check that they do not matter.
inline CollapseMetrics analyze(const FeatureSet& train, const Classifier& classifier, const FeatureSet* test = nullptr,
                               const BatchPlan& plan1 = {}, const BatchPlan& plan2 = {}, bool as_float = false,
                               std::optional<double> weight_decay_term = std::nullopt) {
  const int64_t C = train.num_classes;
  const int64_t p = train.dim;
  const RowMajorMatrix w = classifier.weights;  // row-major copy: the layout the API takes
  const LinearClassifier linear(w.data(), classifier.bias.data(), C, p);
  CollapseAnalyzer analyzer(C, p);

  auto run_pass = [&](const FeatureSet& unordered, const BatchPlan& plan, auto&& add) {
    const FeatureSet set = reordered(unordered, plan.order);
    const std::vector<float> f32 = as_float ? set.features_f32() : std::vector<float>{};
    for (int64_t start = 0; start < set.size(); start += plan.batch_size) {
      const int64_t n = std::min(plan.batch_size, set.size() - start);
      const RealPointer h =
          as_float ? RealPointer(f32.data() + start * p) : RealPointer(set.features.data() + start * p);
      std::vector<double> logits(static_cast<size_t>(n * C));
      linear.logits(h, n, logits.data());
      add(h, set.labels.data() + start, logits.data(), n);
    }
  };
  run_pass(train, plan1,
           [&](RealPointer h, const int64_t* y, const double*, int64_t n) { analyzer.add_means_batch(h, y, n); });
  analyzer.finish_means();
  run_pass(train, plan2, [&](RealPointer h, const int64_t* y, const double* z, int64_t n) {
    analyzer.add_second_pass_batch(h, y, z, n);
  });
  if (test != nullptr) {
    // The test split keeps its own order (a train permutation does not fit it), in pass-2-sized batches.
    run_pass(*test, BatchPlan{plan2.batch_size, {}},
             [&](RealPointer h, const int64_t* y, const double* z, int64_t n) { analyzer.add_test_batch(h, y, z, n); });
  }
  return analyzer.compute_metrics(w.data(), weight_decay_term);
}

}  // namespace collapse::nc::testing
