// The metric variants (nc/metric_variants.h, docs/metrics.md § Variants) on configurations with known
// answers: an exact simplex ETF with the same within-class deviation δ in every class (closed forms), for
// C = 2 and C = 100; invariance to relabelling, scaling, rotation and translation; per-class NC1 that
// isolates the one noisy class; and a direct dense computation on random clusters.
#include <gtest/gtest.h>

#include <cmath>

#include "nc/metric_variants.h"
#include "nc/separation_law.h"
#include "tests/test_nc_support.h"

namespace collapse::nc {
namespace {

using namespace testing;

// Two samples per class at μ_c ± δ·v_c, v_c a random unit vector: every class mean is exactly μ_c and
// every within-class squared deviation is δ².
FeatureSet pairs_around(const Eigen::MatrixXd& means, double delta, Generator& gen) {
  const int64_t p = means.rows(), C = means.cols();
  FeatureSet set{C, p, {}, {}};
  for (int64_t c = 0; c < C; ++c) {
    const Eigen::VectorXd v = random_vector_of_norm(p, 1.0, gen);
    for (double sign : {1.0, -1.0}) {
      const Eigen::VectorXd h = means.col(c) + sign * delta * v;
      set.features.insert(set.features.end(), h.data(), h.data() + p);
      set.labels.push_back(c);
    }
  }
  return set;
}

TEST(NcVariants, ExactDeviationAroundASimplexEtfGivesTheClosedForms) {
  for (int64_t C : {2, 100}) {
    SCOPED_TRACE("C = " + std::to_string(C));
    Generator gen(static_cast<uint64_t>(C));
    const int64_t p = C + 3;
    const Eigen::MatrixXd means = simplex_etf_means(C, p, 1.0, random_vector_of_norm(p, 3.0, gen), gen);
    const double delta = 0.01;
    const FeatureSet set = pairs_around(means, delta, gen);
    const CollapseMetrics m = analyze(set, self_dual_classifier(means, 2.0));
    EXPECT_NEAR(m.nc1_quotient, delta * delta, 1e-12);
    EXPECT_NEAR(m.cdnv, delta * delta * (C - 1.0) / (2.0 * C), 1e-12);
    EXPECT_NEAR(m.etf_error_means, 0.0, 1e-10);
    EXPECT_NEAR(m.etf_error_classifiers, 0.0, 1e-10);
    ASSERT_EQ(m.nc1_per_class.size(), static_cast<size_t>(C));
    double weighted = 0;  // balanced: the mean of the per-class values is nc1
    for (double v : m.nc1_per_class) weighted += v / static_cast<double>(C);
    EXPECT_NEAR(weighted, m.nc1, 1e-12 * std::max(1.0, m.nc1));
    EXPECT_GT(m.nc1, 0.0);
  }
}

TEST(NcVariants, InvariantToRelabellingScalingRotationAndTranslation) {
  Generator gen(21);
  const int64_t C = 6, p = 9;
  const Eigen::MatrixXd means = simplex_etf_means(C, p, 2.0, Eigen::VectorXd::Zero(p), gen);
  const FeatureSet set = features_around(means, uniform_counts(C, 15), 0.4, 5);
  const Classifier classifier = random_classifier(C, p, gen);
  const CollapseMetrics base = analyze(set, classifier);

  // Class c becomes class π(c); the classifier's rows move with their classes.
  const std::vector<int64_t> pi = random_permutation(C, gen);
  FeatureSet relabelled = set;
  for (auto& y : relabelled.labels) y = pi[static_cast<size_t>(y)];
  Classifier moved{Eigen::MatrixXd(C, p), Eigen::VectorXd(C)};
  for (int64_t c = 0; c < C; ++c) {
    moved.weights.row(pi[c]) = classifier.weights.row(c);
    moved.bias(pi[c]) = classifier.bias(c);
  }
  const CollapseMetrics r = analyze(relabelled, moved);
  EXPECT_NEAR(r.nc1_quotient, base.nc1_quotient, 1e-12);
  EXPECT_NEAR(r.cdnv, base.cdnv, 1e-12);
  EXPECT_NEAR(r.etf_error_means, base.etf_error_means, 1e-12);
  EXPECT_NEAR(r.etf_error_classifiers, base.etf_error_classifiers, 1e-12);
  for (int64_t c = 0; c < C; ++c) EXPECT_NEAR(r.nc1_per_class[pi[c]], base.nc1_per_class[c], 1e-10);

  const FeatureSet moved_features = transformed(set, 7.5, random_orthogonal(p, gen), random_vector_of_norm(p, 4.0, gen));
  Classifier scaled = classifier;
  scaled.weights *= 0.3;
  const CollapseMetrics t = analyze(moved_features, scaled);
  EXPECT_NEAR(t.nc1_quotient, base.nc1_quotient, 1e-10);
  EXPECT_NEAR(t.cdnv, base.cdnv, 1e-10);
  EXPECT_NEAR(t.etf_error_means, base.etf_error_means, 1e-10);
  EXPECT_NEAR(t.etf_error_classifiers, base.etf_error_classifiers, 1e-10);  // W scaled: the same shape
  for (int64_t c = 0; c < C; ++c) EXPECT_NEAR(t.nc1_per_class[c], base.nc1_per_class[c], 1e-9);
  EXPECT_GT(base.etf_error_classifiers, 0.1);  // a random W is far from a simplex ETF
}

TEST(NcVariants, PerClassNc1IsolatesTheOneVariableClass) {
  Generator gen(22);
  const int64_t C = 4, p = 5;
  const Eigen::MatrixXd means = simplex_etf_means(C, p, 1.0, Eigen::VectorXd::Zero(p), gen);
  FeatureSet set = features_around(means, uniform_counts(C, 10), 0.2, 9, /*centre_noise=*/true);
  for (int64_t i = 0; i < set.size(); ++i)  // every class but 2 back at its mean exactly
    if (set.labels[i] != 2)
      for (int64_t j = 0; j < p; ++j) set.features[i * p + j] = means(j, set.labels[i]);
  const CollapseMetrics m = analyze(set, self_dual_classifier(means, 1.0));
  for (int64_t c = 0; c < C; ++c) {
    if (c == 2) EXPECT_GT(m.nc1_per_class[c], 1e-3);
    else EXPECT_NEAR(m.nc1_per_class[c], 0.0, 1e-20);
  }
  EXPECT_NEAR(m.nc1_per_class[2] / C, m.nc1, 1e-12);  // n_c/N = 1/C
}

// The variants from their definitions, every matrix formed, on unbalanced random clusters.
TEST(NcVariants, MatchADirectDenseComputation) {
  Generator gen(23);
  const int64_t C = 5, p = 7;
  const Eigen::MatrixXd centres = gaussian_matrix(p, C, gen);
  const FeatureSet set = features_around(centres, {12, 7, 20, 9, 15}, 0.8, 3);
  const Classifier classifier = random_classifier(C, p, gen);
  const CollapseMetrics m = analyze(set, classifier);

  Eigen::Map<const RowMajorMatrix> h(set.features.data(), set.size(), p);
  Eigen::MatrixXd mu = Eigen::MatrixXd::Zero(p, C);
  Eigen::VectorXd n = Eigen::VectorXd::Zero(C);
  for (int64_t i = 0; i < set.size(); ++i) mu.col(set.labels[i]) += h.row(i).transpose(), n(set.labels[i]) += 1;
  for (int64_t c = 0; c < C; ++c) mu.col(c) /= n(c);
  const Eigen::VectorXd mu_g = mu.rowwise().mean();
  const Eigen::MatrixXd centred = mu.colwise() - mu_g;
  Eigen::MatrixXd sw = Eigen::MatrixXd::Zero(p, p);
  std::vector<Eigen::MatrixXd> sw_class(C, Eigen::MatrixXd::Zero(p, p));
  Eigen::VectorXd var = Eigen::VectorXd::Zero(C);
  for (int64_t i = 0; i < set.size(); ++i) {
    const Eigen::VectorXd d = h.row(i).transpose() - mu.col(set.labels[i]);
    sw += d * d.transpose() / static_cast<double>(set.size());
    sw_class[set.labels[i]] += d * d.transpose() / n(set.labels[i]);
    var(set.labels[i]) += d.squaredNorm() / n(set.labels[i]);
  }
  const Eigen::MatrixXd sb = centred * centred.transpose() / static_cast<double>(C);
  const Eigen::MatrixXd sb_pinv = sb.completeOrthogonalDecomposition().pseudoInverse();
  EXPECT_NEAR(m.nc1_quotient, sw.trace() / sb.trace(), 1e-10);
  double cdnv = 0;
  for (int64_t a = 0; a < C; ++a)
    for (int64_t b = a + 1; b < C; ++b) cdnv += (var(a) + var(b)) / (2 * (mu.col(a) - mu.col(b)).squaredNorm());
  EXPECT_NEAR(m.cdnv, cdnv / (C * (C - 1) / 2), 1e-10);
  for (int64_t c = 0; c < C; ++c)
    EXPECT_NEAR(m.nc1_per_class[c], (sw_class[c] * sb_pinv).trace() / C, 1e-8) << "class " << c;
  const Eigen::MatrixXd gram = centred.transpose() * centred;
  const Eigen::MatrixXd etf = (Eigen::MatrixXd::Identity(C, C) - Eigen::MatrixXd::Constant(C, C, 1.0 / C)) / std::sqrt(C - 1.0);
  EXPECT_NEAR(m.etf_error_means, (gram / gram.norm() - etf).norm(), 1e-12);
}

}  // namespace
}  // namespace collapse::nc

namespace collapse::nc {
namespace {

// The law of data separation's fit: an exact geometric decay is a line (R² = 1, its ratio), noise lowers R²,
// stages without a positive value are left out, and too few points give no R².
TEST(SeparationLaw, FitsTheGeometricDecayOfTheFuzziness) {
  const SeparationLaw exact = fit_separation_law({8.0, 4.0, 2.0, 1.0, 0.5});
  EXPECT_EQ(exact.points, 5);
  EXPECT_NEAR(exact.ratio_per_stage, 0.5, 1e-12);
  EXPECT_NEAR(exact.r_squared, 1.0, 1e-12);
  EXPECT_NEAR(exact.intercept, std::log(8.0), 1e-12);
  const SeparationLaw noisy = fit_separation_law({8.0, 5.0, 1.5, 1.2, 0.4});
  EXPECT_LT(noisy.r_squared, 0.99);
  EXPECT_GT(noisy.r_squared, 0.8);
  const SeparationLaw gaps = fit_separation_law({8.0, std::nan(""), 2.0, -1.0, 0.5});
  EXPECT_EQ(gaps.points, 3);
  EXPECT_NEAR(gaps.ratio_per_stage, 0.5, 1e-12);
  EXPECT_TRUE(std::isnan(fit_separation_law({3.0, 1.0}).r_squared));
  EXPECT_TRUE(std::isnan(fit_separation_law({3.0}).slope));
}

}  // namespace
}  // namespace collapse::nc
