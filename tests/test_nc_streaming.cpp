// The streaming two-pass analysis against dense computations, batching and order independence, and the
// precision near collapse that NEURAL_COLLAPSE.md §4 asks for.
#include <gtest/gtest.h>

#include <string>

#include <cmath>

#include "nc/dense_reference.h"
#include "test_nc_support.h"

namespace collapse::nc {
namespace {

using testing::BatchPlan;
using testing::Classifier;
using testing::FeatureSet;

// Every floating field of two metric sets agrees to `tolerance`, relative (absolute below 1e-300).
void expect_values_close(const nlohmann::json& a, const nlohmann::json& b, double tolerance, const std::string& key) {
  if (a.is_null() || b.is_null()) {
    EXPECT_EQ(a.is_null(), b.is_null()) << key;
  } else if (a.is_array()) {  // nc1_per_class
    ASSERT_EQ(a.size(), b.size()) << key;
    for (size_t i = 0; i < a.size(); ++i) expect_values_close(a[i], b[i], tolerance, key + "[" + std::to_string(i) + "]");
  } else if (a.is_number_integer()) {
    EXPECT_EQ(a.get<int64_t>(), b.get<int64_t>()) << key;
  } else {
    const double x = a.get<double>(), y = b.get<double>();
    EXPECT_LE(std::abs(x - y), tolerance * std::max({std::abs(x), std::abs(y), 1e-300})) << key << ": " << x << " vs " << y;
  }
}

void expect_metrics_close(const CollapseMetrics& a, const CollapseMetrics& b, double tolerance) {
  const nlohmann::json ja = to_json(a), jb = to_json(b);
  for (const auto& [key, value] : ja.items()) expect_values_close(value, jb[key], tolerance, key);
}

// NC1 = Σ_k u_kᵀ Σ_W u_k / s_k² (the projection formula) equals Tr(Σ_W pinv(Σ_B))/C with both p × p
// matrices formed, and nc1_trace is the same trace without the /C.
TEST(NcStreaming, ProjectionFormulaMatchesDenseTraceOfPseudoInverse) {
  Generator gen(1);
  for (const auto& [C, p] : {std::pair<int64_t, int64_t>{4, 6}, {2, 3}, {9, 9}, {10, 40}}) {
    const FeatureSet set = testing::features_around(testing::gaussian_matrix(p, C, gen), testing::uniform_counts(C, 25),
                                                    0.8, static_cast<uint64_t>(C));
    const CollapseMetrics m = testing::analyze(set, testing::random_classifier(C, p, gen));
    const auto dense = dense_reference_nc1<double>(set.features.data(), set.labels.data(), set.size(), C, p);
    EXPECT_NEAR(m.nc1 / dense.nc1, 1.0, 1e-10) << "C=" << C << " p=" << p;
    EXPECT_NEAR(m.nc1_trace / dense.nc1_trace, 1.0, 1e-10) << "C=" << C << " p=" << p;
    EXPECT_NEAR(m.nc1_trace, static_cast<double>(C) * m.nc1, 1e-14 * m.nc1_trace);
  }
}

// Batch sizes and sample order (different in each pass) change only the rounding.
TEST(NcStreaming, BatchSizeAndOrderDoNotMatter) {
  Generator gen(2);
  const int64_t C = 7, p = 32;
  std::vector<int64_t> counts;
  for (int64_t c = 0; c < C; ++c) counts.push_back(300 + 40 * c);
  const FeatureSet train = testing::features_around(testing::gaussian_matrix(p, C, gen) * 3.0, counts, 1.0, 3);
  const FeatureSet test =
      testing::features_around(testing::gaussian_matrix(p, C, gen) * 3.0, testing::uniform_counts(C, 100), 1.0, 4);
  const Classifier classifier = testing::random_classifier(C, p, gen);
  const CollapseMetrics whole = testing::analyze(train, classifier, &test, {}, {}, false, 0.5);

  for (int64_t batch : {1, 7, 100, 999}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    expect_metrics_close(testing::analyze(train, classifier, &test, {batch, {}}, {batch, {}}, false, 0.5), whole,
                         1e-12);
  }
  for (int trial = 0; trial < 3; ++trial) {
    SCOPED_TRACE("shuffle " + std::to_string(trial));
    const BatchPlan pass1{128, testing::random_permutation(train.size(), gen)};
    const BatchPlan pass2{77, testing::random_permutation(train.size(), gen)};
    expect_metrics_close(testing::analyze(train, classifier, &test, pass1, pass2, false, 0.5), whole, 1e-12);
  }
}

// float32 features give the same metrics as the same values widened to float64 (accumulation is double).
TEST(NcStreaming, FloatAndDoubleInputsAgree) {
  Generator gen(3);
  const int64_t C = 5, p = 24;
  FeatureSet train =
      testing::features_around(testing::gaussian_matrix(p, C, gen), testing::uniform_counts(C, 200), 0.3, 5);
  const std::vector<float> f32 = train.features_f32();
  train.features.assign(f32.begin(), f32.end());  // exactly representable in both precisions
  const Classifier classifier = testing::random_classifier(C, p, gen);
  expect_metrics_close(testing::analyze(train, classifier, nullptr, {}, {}, true),
                       testing::analyze(train, classifier, nullptr, {}, {}, false), 1e-12);
}

// Near collapse: within-class noise 1e-4 around ETF means of norm 10, all offset by 100 from the origin.
// NC1 ≈ 1e-10 here; the one-pass Σhhᵀ − μμᵀ in float32 would return noise. The streaming result must
// match a long-double dense computation on the very same (float32) feature values to 1e-6 relative.
TEST(NcStreaming, NearCollapsePrecisionMatchesLongDoubleReference) {
  Generator gen(4);
  const int64_t C = 5, p = 16;
  const Eigen::MatrixXd means =
      testing::simplex_etf_means(C, p, 10.0, testing::random_vector_of_norm(p, 100.0, gen), gen);
  FeatureSet train = testing::features_around(means, testing::uniform_counts(C, 300), 1e-4, 6);
  const std::vector<float> f32 = train.features_f32();
  train.features.assign(f32.begin(), f32.end());
  const Classifier classifier = testing::self_dual_classifier(means, 1.0);

  const auto exact = dense_reference_nc1<long double>(f32.data(), train.labels.data(), train.size(), C, p);
  ASSERT_GT(exact.nc1, 1e-12L);
  ASSERT_LT(exact.nc1, 1e-8L);
  for (const bool as_float : {true, false}) {
    for (const int64_t batch : {int64_t{1} << 30, int64_t{37}}) {
      const CollapseMetrics m = testing::analyze(train, classifier, nullptr, {batch, {}}, {batch, {}}, as_float);
      EXPECT_NEAR(m.nc1 / static_cast<double>(exact.nc1), 1.0, 1e-6)
          << "float input " << as_float << " batch " << batch;
    }
  }
}

// ---- Misuse is reported, not silently mis-measured ----------------------------------------------------

TEST(NcStreaming, SecondPassMustSeeTheSameTrainingSet) {
  Generator gen(5);
  const int64_t C = 3, p = 4;
  const FeatureSet set =
      testing::features_around(testing::gaussian_matrix(p, C, gen), testing::uniform_counts(C, 10), 0.1, 1);
  const testing::RowMajorMatrix w = testing::gaussian_matrix(C, p, gen);
  std::vector<double> logits(static_cast<size_t>(set.size() * C), 0.0);
  CollapseAnalyzer analyzer(C, p);
  analyzer.add_means_batch(set.features.data(), set.labels.data(), set.size());
  analyzer.finish_means();
  analyzer.add_second_pass_batch(set.features.data(), set.labels.data(), logits.data(), set.size() - 1);
  EXPECT_THROW(analyzer.compute_metrics(w.data()), Error);
}

TEST(NcStreaming, CallOrderAndInputsAreChecked) {
  const int64_t C = 3, p = 2;
  const std::vector<double> h = {0, 0, 1, 1, 2, 2};
  const std::vector<double> logits(9, 0.0);
  const std::vector<int64_t> labels = {0, 1, 2};
  const std::vector<int64_t> bad_labels = {0, 3, 1};
  CollapseAnalyzer analyzer(C, p);
  EXPECT_THROW(analyzer.add_second_pass_batch(h.data(), labels.data(), logits.data(), 3), Error);  // before means
  EXPECT_THROW(analyzer.add_means_batch(h.data(), bad_labels.data(), 3), Error);
  analyzer.add_means_batch(h.data(), labels.data(), 2);
  EXPECT_THROW(analyzer.finish_means(), Error);  // class 2 has no sample
  CollapseAnalyzer complete(C, p);
  complete.add_means_batch(h.data(), labels.data(), 3);
  complete.finish_means();
  EXPECT_THROW(complete.add_means_batch(h.data(), labels.data(), 3), Error);  // after finish
  EXPECT_THROW(complete.compute_metrics(h.data()), Error);                    // no second pass yet
  EXPECT_THROW(CollapseAnalyzer(1, 4), Error);
}

}  // namespace
}  // namespace collapse::nc
