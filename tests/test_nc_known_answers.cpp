// The known answers of NEURAL_COLLAPSE.md §4, and a case small enough to do by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <regex>
#include <set>

#include "nc/dense_reference.h"
#include "nc/geometry.h"
#include "test_nc_support.h"

namespace collapse::nc {
namespace {

using testing::Classifier;
using testing::FeatureSet;

// ---- A case computed by hand --------------------------------------------------------------------
//
// C = 2, p = 2, four samples:
//   class 0: (−1.5, 1), (−0.5, −1)  → μ_0 = (−1, 0), deviations (−0.5, 1), (0.5, −1)
//   class 1: (1, 2), (1, −2)        → μ_1 = (1, 0),  deviations (0, 2), (0, −2)
// μ_G = (0, 0), Ṁ = [(−1, 0) (1, 0)], Σ_B = ½(ṁ_0ṁ_0ᵀ + ṁ_1ṁ_1ᵀ) = diag(1, 0), so Σ_B⁺ = diag(1, 0).
// Σ_W = ¼ Σ dev devᵀ: its xx entry is ¼(0.25 + 0.25 + 0 + 0) = 0.125.
// Tr(Σ_W Σ_B⁺) = Σ_W,xx = 0.125 = nc1_trace, NC1 = 0.125 / 2 = 0.0625.
// Means: norms 1, 1 → equinorm 0; cos(ṁ_0, ṁ_1) = −1 = −1/(C−1) → max-angle 0; one pair → std 0.
// Classifier W = [(−1, 0), (3, 4)], b = 0:
//   norms 1, 5: mean 3, sample std √((4 + 4)/1) = √8 → equinorm √8/3;
//   cos = (−3)/(1·5) = −0.6 → max-angle |−0.6 + 1| = 0.4;
//   NC3 = 2 − 2⟨W, Ṁᵀ⟩/(‖W‖_F‖Ṁ‖_F) = 2 − 2·4/(√26·√2) = 2 − 4/√13.
// Logits Wh: (1.5, −0.5), (0.5, −5.5), (−1, 11), (−1, −5) → predictions 0, 0, 1, 0: one error (the 4th).
//   Cross-entropies: log(1 + e⁻²), log(1 + e⁻⁶), log(1 + e⁻¹²), and for the 4th (label 1)
//   log(e⁻¹ + e⁻⁵) + 5 = 4 + log(1 + e⁻⁴).
// Nearest means: 0, 0, 1, 1 (the 4th: (1, −2) is at squared distance 4 from μ_1, 8 from μ_0) → the
//   4th disagrees with its prediction: nc4_train = 1/4.
// Test sample (0.2, 5), label 1: logits (−0.2, 20.6) → predicted 1, correct; nearest mean μ_1
//   (0.64 + 25 < 1.44 + 25) → agrees: test error 0, NC4 0, loss log(1 + e^−20.8).
TEST(NcKnownAnswers, HandComputedTwoClassCase) {
  const FeatureSet train{2, 2, {-1.5, 1, -0.5, -1, 1, 2, 1, -2}, {0, 0, 1, 1}};
  const FeatureSet test{2, 2, {0.2, 5}, {1}};
  Classifier classifier{Eigen::MatrixXd(2, 2), Eigen::VectorXd::Zero(2)};
  classifier.weights << -1, 0, 3, 4;

  const CollapseMetrics m = testing::analyze(train, classifier, &test, {}, {}, false, 0.25);
  EXPECT_EQ(m.num_classes, 2);
  EXPECT_EQ(m.dim, 2);
  EXPECT_EQ(m.num_train, 4);
  EXPECT_EQ(m.num_test, 1);
  EXPECT_EQ(m.between_class_rank, 1);
  EXPECT_NEAR(m.nc1, 0.0625, 1e-15);
  EXPECT_NEAR(m.nc1_trace, 0.125, 1e-15);
  EXPECT_NEAR(m.equinorm_means, 0.0, 1e-15);
  EXPECT_NEAR(m.equiangular_means, 0.0, 1e-15);
  EXPECT_NEAR(m.maxangle_means, 0.0, 1e-15);
  EXPECT_NEAR(m.equinorm_classifiers, std::sqrt(8.0) / 3.0, 1e-15);
  EXPECT_NEAR(m.equiangular_classifiers, 0.0, 1e-15);
  EXPECT_NEAR(m.maxangle_classifiers, 0.4, 1e-15);
  EXPECT_NEAR(m.nc3, 2.0 - 4.0 / std::sqrt(13.0), 1e-15);
  EXPECT_DOUBLE_EQ(m.train_error, 0.25);
  const double train_loss = (std::log1p(std::exp(-2.0)) + std::log1p(std::exp(-6.0)) + std::log1p(std::exp(-12.0)) +
                             4.0 + std::log1p(std::exp(-4.0))) /
                            4.0;
  EXPECT_NEAR(m.train_loss, train_loss, 1e-15);
  ASSERT_TRUE(m.train_loss_wd.has_value());
  EXPECT_NEAR(*m.train_loss_wd, train_loss + 0.25, 1e-15);
  EXPECT_DOUBLE_EQ(m.nc4_train, 0.25);
  ASSERT_TRUE(m.test_error && m.test_loss && m.nc4);
  EXPECT_EQ(*m.test_error, 0.0);
  EXPECT_NEAR(*m.test_loss, std::log1p(std::exp(-20.8)), 1e-20);
  EXPECT_EQ(*m.nc4, 0.0);
}

// ---- Features exactly at the vertices of a simplex ETF ------------------------------------------

struct EtfCase {
  int64_t num_classes;
  int64_t dim;
};

// Test names "C<classes>", built by appending: "C" + std::to_string(...) trips GCC 12's bogus -Wrestrict
// (GCC bug 105329).
std::string class_count_name(const ::testing::TestParamInfo<EtfCase>& info) {
  std::string name = "C";
  name += std::to_string(info.param.num_classes);
  return name;
}

class NcSimplexEtf : public ::testing::TestWithParam<EtfCase> {};

// Rotated (random orthogonal embedding), scaled (7.5), translated (norm 50); class counts unequal, so
// μ_G (mean of the class means) differs from the mean of the samples and the test would catch a mix-up.
TEST_P(NcSimplexEtf, CollapsedFeaturesGiveZeroMetricsAndEtfCosines) {
  const auto [C, p] = GetParam();
  Generator gen(100 + static_cast<uint64_t>(C));
  const Eigen::MatrixXd means =
      testing::simplex_etf_means(C, p, 7.5, testing::random_vector_of_norm(p, 50.0, gen), gen);
  std::vector<int64_t> counts;
  for (int64_t c = 0; c < C; ++c) counts.push_back(1 + (c * 7) % 5);
  const FeatureSet train = testing::features_around(means, counts, 0.0, 1);
  const FeatureSet test = testing::features_around(means, testing::uniform_counts(C, 3), 0.01, 2);
  const Classifier classifier = testing::self_dual_classifier(means, 0.3);

  const CollapseMetrics m = testing::analyze(train, classifier, &test);
  EXPECT_EQ(m.between_class_rank, C - 1);
  EXPECT_LT(m.nc1, 1e-20);
  EXPECT_LT(m.nc1_trace, 1e-20 * static_cast<double>(C));
  EXPECT_LT(m.equinorm_means, 1e-12);
  EXPECT_LT(m.equinorm_classifiers, 1e-12);
  EXPECT_LT(m.equiangular_means, 1e-12);
  EXPECT_LT(m.equiangular_classifiers, 1e-12);
  EXPECT_LT(m.maxangle_means, 1e-12);
  EXPECT_LT(m.maxangle_classifiers, 1e-12);
  EXPECT_LT(m.nc3, 1e-20);
  EXPECT_EQ(m.nc4_train, 0.0);
  EXPECT_EQ(m.train_error, 0.0);
  ASSERT_TRUE(m.nc4 && m.test_error);
  EXPECT_EQ(*m.nc4, 0.0);
  EXPECT_EQ(*m.test_error, 0.0);

  // Every cosine between centred means, and between classifier rows, is −1/(C − 1).
  CollapseAnalyzer analyzer(C, p);
  analyzer.add_means_batch(train.features.data(), train.labels.data(), train.size());
  analyzer.finish_means();
  const double etf_cosine = -1.0 / static_cast<double>(C - 1);
  const Eigen::MatrixXd mean_cosines = pairwise_cosines(analyzer.class_means().centred);
  const Eigen::MatrixXd classifier_cosines = pairwise_cosines(classifier.weights.transpose());
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t d = 0; d < C; ++d) {
      const double expected = c == d ? 1.0 : etf_cosine;
      EXPECT_NEAR(mean_cosines(c, d), expected, 1e-12) << c << "," << d;
      EXPECT_NEAR(classifier_cosines(c, d), expected, 1e-12) << c << "," << d;
    }
  }
}

// C = 2 (the smallest: one pair, cosine −1) and C = 100 (CIFAR100's count).
INSTANTIATE_TEST_SUITE_P(ClassCounts, NcSimplexEtf,
                         ::testing::Values(EtfCase{2, 5}, EtfCase{3, 3}, EtfCase{10, 16}, EtfCase{100, 128}),
                         class_count_name);

// ---- Isotropic noise: NC1 ∝ s² ---------------------------------------------------------------------

class NcIsotropicNoise : public ::testing::TestWithParam<EtfCase> {};

// The same noise realisation, made zero-mean per class, scaled by s: the class means stay exactly at the
// ETF vertices, Σ_W scales as s², so NC1 does exactly. In expectation Σ_W ≈ s²·I, and the ETF's
// singular values are all α√(C/(C−1)), so NC1 ≈ (C − 1) s² / (α² C/(C − 1)) = s²(C − 1)²/(α²C).
TEST_P(NcIsotropicNoise, Nc1ScalesAsNoiseAmplitudeSquared) {
  const auto [C, p] = GetParam();
  Generator gen(7);
  const double alpha = 4.0;
  const Eigen::MatrixXd means =
      testing::simplex_etf_means(C, p, alpha, testing::random_vector_of_norm(p, 3.0, gen), gen);
  const Classifier classifier = testing::self_dual_classifier(means, 1.0);
  const auto counts = testing::uniform_counts(C, C >= 100 ? 60 : 400);
  auto nc1_at = [&](double s) {
    return testing::analyze(testing::features_around(means, counts, s, 11, /*centre_noise=*/true), classifier).nc1;
  };
  const double s = 0.05;
  const double base = nc1_at(s);
  EXPECT_NEAR(nc1_at(2 * s) / base, 4.0, 4e-9);
  EXPECT_NEAR(nc1_at(10 * s) / base, 100.0, 1e-7);
  const double c = static_cast<double>(C);
  const double expected = s * s * (c - 1) * (c - 1) / (alpha * alpha * c);
  EXPECT_NEAR(base / expected, 1.0, 0.1);
}

INSTANTIATE_TEST_SUITE_P(ClassCounts, NcIsotropicNoise, ::testing::Values(EtfCase{5, 20}, EtfCase{100, 128}),
                         class_count_name);

// ---- Invariance --------------------------------------------------------------------------------------

// NC1 is invariant to h ↦ aRh + t applied to all features: Σ_W and Σ_B both become a²RΣRᵀ.
TEST(NcKnownAnswers, Nc1InvariantToScalingRotationAndTranslation) {
  Generator gen(3);
  const int64_t C = 6, p = 12;
  const Eigen::MatrixXd means = testing::gaussian_matrix(p, C, gen) * 2.0;
  const FeatureSet base = testing::features_around(means, {30, 40, 50, 35, 45, 25}, 0.7, 5);
  const Classifier classifier = testing::random_classifier(C, p, gen);
  const double nc1 = testing::analyze(base, classifier).nc1;
  ASSERT_GT(nc1, 1e-3);

  const Eigen::MatrixXd rotation = testing::random_orthogonal(p, gen);
  const Eigen::VectorXd translation = testing::random_vector_of_norm(p, 20.0, gen);
  const Eigen::MatrixXd identity = Eigen::MatrixXd::Identity(p, p);
  const Eigen::VectorXd zero = Eigen::VectorXd::Zero(p);
  EXPECT_NEAR(testing::analyze(testing::transformed(base, 3.7, identity, zero), classifier).nc1 / nc1, 1.0, 1e-10);
  EXPECT_NEAR(testing::analyze(testing::transformed(base, 1.0, rotation, zero), classifier).nc1 / nc1, 1.0, 1e-10);
  EXPECT_NEAR(testing::analyze(testing::transformed(base, 1.0, identity, translation), classifier).nc1 / nc1, 1.0,
              1e-10);
  EXPECT_NEAR(testing::analyze(testing::transformed(base, 0.01, rotation, translation), classifier).nc1 / nc1, 1.0,
              1e-10);
}

// ---- Degenerate shapes -------------------------------------------------------------------------------

// p < C − 1: the class means span only p dimensions; Σ_B⁺ is the pseudo-inverse on them.
TEST(NcKnownAnswers, FewerDimensionsThanClassesUsesRankP) {
  Generator gen(4);
  const int64_t C = 6, p = 3;
  const FeatureSet set =
      testing::features_around(testing::gaussian_matrix(p, C, gen), testing::uniform_counts(C, 20), 0.5, 9);
  const CollapseMetrics m = testing::analyze(set, testing::random_classifier(C, p, gen));
  EXPECT_EQ(m.between_class_rank, p);
  const auto dense = dense_reference_nc1<long double>(set.features.data(), set.labels.data(), set.size(), C, p);
  EXPECT_NEAR(m.nc1 / static_cast<double>(dense.nc1), 1.0, 1e-10);
}

// All class means equal: Σ_B = 0 and NC1 is undefined (NaN, null in JSON), not a misleading 0.
TEST(NcKnownAnswers, CoincidingClassMeansGiveUndefinedNc1) {
  Generator gen(5);
  const int64_t C = 3, p = 4;
  const Eigen::MatrixXd means = Eigen::MatrixXd::Ones(p, C);
  const CollapseMetrics m = testing::analyze(testing::features_around(means, testing::uniform_counts(C, 5), 0.0, 1),
                                             testing::random_classifier(C, p, gen));
  EXPECT_EQ(m.between_class_rank, 0);
  EXPECT_TRUE(std::isnan(m.nc1));
  EXPECT_TRUE(to_json(m)["nc1"].is_null());
}

// NC4 finds the nearest class mean in the r-dimensional between-class basis; test features far from
// that subspace must give the same answer as explicit p-dimensional distances.
TEST(NcKnownAnswers, NearestClassMeanAgreesWithExplicitDistances) {
  Generator gen(6);
  const int64_t C = 7, p = 15;
  const FeatureSet train =
      testing::features_around(testing::gaussian_matrix(p, C, gen), testing::uniform_counts(C, 30), 1.5, 21);
  FeatureSet test =
      testing::features_around(testing::gaussian_matrix(p, C, gen) * 3.0, testing::uniform_counts(C, 50), 2.0, 22);
  const Classifier classifier = testing::random_classifier(C, p, gen);

  const std::vector<int64_t> nearest = dense_reference_nearest_means(
      train.features.data(), train.labels.data(), train.size(), test.features.data(), test.size(), C, p);
  std::vector<double> logits(static_cast<size_t>(test.size() * C));
  const testing::RowMajorMatrix w = classifier.weights;
  LinearClassifier(w.data(), classifier.bias.data(), C, p).logits(test.features.data(), test.size(), logits.data());
  int64_t disagreements = 0;
  for (int64_t i = 0; i < test.size(); ++i) {
    const double* row = logits.data() + i * C;
    disagreements += std::max_element(row, row + C) - row != nearest[static_cast<size_t>(i)];
  }
  ASSERT_GT(disagreements, 0);  // a random classifier: the comparison is not trivial
  const CollapseMetrics m = testing::analyze(train, classifier, &test);
  EXPECT_DOUBLE_EQ(*m.nc4, static_cast<double>(disagreements) / static_cast<double>(test.size()));
}

// ---- The JSON contract (docs/metrics.md) -------------------------------------------------------------

const std::set<std::string> kMetricKeys = {"nc1_quotient", "cdnv", "etf_error_means", "etf_error_classifiers",
                                           "nc1_per_class",
                                           "num_classes",
                                           "dim",
                                           "num_train",
                                           "num_test",
                                           "between_class_rank",
                                           "train_error",
                                           "train_loss",
                                           "weight_decay_term",
                                           "train_loss_wd",
                                           "test_error",
                                           "test_loss",
                                           "nc1",
                                           "nc1_trace",
                                           "equinorm_means",
                                           "equinorm_classifiers",
                                           "equiangular_means",
                                           "equiangular_classifiers",
                                           "maxangle_means",
                                           "maxangle_classifiers",
                                           "nc3",
                                           "nc4",
                                           "nc4_train"};

TEST(NcMetricsJson, EveryKeyAlwaysPresentAndRoundTrips) {
  Generator gen(8);
  const int64_t C = 3, p = 5;
  const FeatureSet set =
      testing::features_around(testing::gaussian_matrix(p, C, gen), testing::uniform_counts(C, 10), 0.3, 1);
  const CollapseMetrics m = testing::analyze(set, testing::random_classifier(C, p, gen));  // no test, no wd
  const nlohmann::json j = to_json(m);
  std::set<std::string> keys;
  for (const auto& item : j.items()) keys.insert(item.key());
  EXPECT_EQ(keys, kMetricKeys);
  for (const char* absent : {"test_error", "test_loss", "nc4", "weight_decay_term", "train_loss_wd"})
    EXPECT_TRUE(j[absent].is_null()) << absent;
  EXPECT_EQ(j["num_test"], 0);
  EXPECT_EQ(to_json(metrics_from_json(j)), j);
  EXPECT_THROW(metrics_from_json(nlohmann::json{{"nc1", 1.0}}), Error);
}

#ifdef COLLAPSE_SOURCE_DIR
// The documentation lists exactly the keys the code writes.
TEST(NcMetricsJson, DocumentationListsEveryKey) {
  std::ifstream doc(std::string(COLLAPSE_SOURCE_DIR) + "/docs/metrics.md");
  ASSERT_TRUE(doc.good());
  std::set<std::string> documented;
  const std::regex row(R"(^\| `([a-z0-9_]+)` \|)");
  for (std::string line; std::getline(doc, line);) {
    std::smatch match;
    if (std::regex_search(line, match, row)) documented.insert(match[1]);
  }
  EXPECT_EQ(documented, kMetricKeys);
}
#endif

}  // namespace
}  // namespace collapse::nc
