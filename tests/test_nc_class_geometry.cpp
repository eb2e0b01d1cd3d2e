// geometry.json's content (nc/class_geometry.h): the cosine matrices of the centred class means and of the
// classifier rows, on the simplex ETF (every off-diagonal cosine −1/(C − 1)) and on a hand-computed case.
#include <gtest/gtest.h>

#include <cmath>

#include "nc/class_geometry.h"
#include "nc/collapse_analyzer.h"
#include "nc/model_analysis.h"
#include "test_nc_support.h"
#include "tests/testing/memory_dataset.h"
#include "tests/testing/perceptron_net.h"

namespace collapse::nc {
namespace {

TEST(NcClassGeometry, SimplexEtfGivesEtfCosinesEqualNormsAndZeroDeviation) {
  for (const int64_t C : {3, 10, 100}) {
    const int64_t p = C + 5;
    Generator gen(11 + static_cast<uint64_t>(C));
    const Eigen::MatrixXd means = testing::simplex_etf_means(C, p, 4.0, testing::random_vector_of_norm(p, 30, gen), gen);
    const testing::FeatureSet train = testing::features_around(means, testing::uniform_counts(C, 2), 0.0, 1);
    const testing::Classifier classifier = testing::self_dual_classifier(means, 0.5);
    CollapseAnalyzer analyzer(C, p);
    analyzer.add_means_batch(train.features.data(), train.labels.data(), train.size());
    analyzer.finish_means();

    const nlohmann::json g = class_geometry(analyzer.class_means(), classifier.weights);
    const double etf = -1.0 / static_cast<double>(C - 1);
    EXPECT_EQ(g["num_classes"], C);
    EXPECT_EQ(g["dim"], p);
    EXPECT_DOUBLE_EQ(g["etf_cosine"].get<double>(), etf);
    ASSERT_EQ(g["mean_cosines"].size(), static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
      ASSERT_EQ(g["mean_cosines"][c].size(), static_cast<size_t>(C));
      for (int64_t d = 0; d < C; ++d) {
        EXPECT_NEAR(g["mean_cosines"][c][d].get<double>(), c == d ? 1.0 : etf, 1e-12);
        EXPECT_NEAR(g["classifier_cosines"][c][d].get<double>(), c == d ? 1.0 : etf, 1e-12);
      }
      EXPECT_NEAR(g["mean_norms"][c].get<double>(), 4.0, 1e-10);  // ‖μ_c − μ_G‖ = the ETF's scale
      EXPECT_NEAR(g["classifier_norms"][c].get<double>(), 0.5 * 4.0, 1e-10);
    }
    EXPECT_LT(g["max_mean_cosine_deviation"].get<double>(), 1e-12);
    EXPECT_LT(g["max_classifier_cosine_deviation"].get<double>(), 1e-12);
  }
}

// Three classes in the plane, means (1,0), (0,1), (−1,−1): μ_G = 0, so the centred means are the means;
// cos(μ_0, μ_1) = 0, cos(μ_0, μ_2) = cos(μ_1, μ_2) = −1/√2. W's rows: (1,0), (2,0), (0,0): a zero row's
// cosines are undefined (null), and so is the largest deviation.
TEST(NcClassGeometry, HandComputedCosinesAndZeroClassifierRow) {
  Eigen::MatrixXd means(2, 3);
  means << 1, 0, -1, 0, 1, -1;
  const testing::FeatureSet train = testing::features_around(means, testing::uniform_counts(3, 1), 0.0, 1);
  CollapseAnalyzer analyzer(3, 2);
  analyzer.add_means_batch(train.features.data(), train.labels.data(), train.size());
  analyzer.finish_means();
  Eigen::MatrixXd w(3, 2);
  w << 1, 0, 2, 0, 0, 0;
  const nlohmann::json g = class_geometry(analyzer.class_means(), w);
  EXPECT_NEAR(g["mean_cosines"][0][1].get<double>(), 0.0, 1e-15);
  EXPECT_NEAR(g["mean_cosines"][0][2].get<double>(), -1 / std::sqrt(2.0), 1e-15);
  EXPECT_NEAR(g["mean_cosines"][1][2].get<double>(), -1 / std::sqrt(2.0), 1e-15);
  EXPECT_NEAR(g["max_mean_cosine_deviation"].get<double>(), 0.5, 1e-15);  // |0 − (−1/2)|
  EXPECT_NEAR(g["mean_norms"][2].get<double>(), std::sqrt(2.0), 1e-15);
  EXPECT_NEAR(g["classifier_cosines"][0][1].get<double>(), 1.0, 1e-15);
  EXPECT_TRUE(g["classifier_cosines"][0][2].is_null());
  EXPECT_TRUE(g["max_classifier_cosine_deviation"].is_null());
  EXPECT_EQ(g["classifier_norms"][2].get<double>(), 0.0);
}

// nc-experiment's final geometry.json reuses the last measurement's class means instead of another pass
// over the training set: the same file, to the bit, as the pass would give.
TEST(NcClassGeometry, FromAMeasurementsClassMeansEqualsAPassOverTheData) {
  Generator gen(5);
  collapse::testing::PerceptronNet model(6, 4, 3, gen);  // 4 features of a 1x2x3 image, 3 classes
  const auto data = collapse::testing::memory_dataset(
      40, {1, 2, 3}, 3, [](int64_t i) { return i % 3; },
      [](int64_t i, int64_t y, int64_t x, int64_t) { return static_cast<float>(std::sin(1.0 + i * 0.7 + y * 3 + x)); });
  DataLoader train(data, LoaderOptions::evaluation(7));  // several batches, a short last one

  std::shared_ptr<const ClassMeans> means;
  AnalysisOptions options;
  options.class_means_out = &means;
  const CollapseMetrics metrics = analyze_model(model, train, nullptr, options);
  ASSERT_NE(means, nullptr);
  EXPECT_EQ(means->num_classes(), 3);
  EXPECT_EQ(means->dim(), 4);
  EXPECT_EQ(metrics.num_train, 40);

  const nlohmann::json reused = class_geometry(model, *means);
  const nlohmann::json passed = class_geometry(model, train, Device::cpu());
  EXPECT_EQ(reused.dump(), passed.dump());
  EXPECT_EQ(reused["num_classes"], 3);

  // Means of another shape than the classifier's are refused, not read out of bounds.
  CollapseAnalyzer other(3, 5);
  const Eigen::MatrixXd five = Eigen::MatrixXd::Identity(5, 3);
  const testing::FeatureSet features = testing::features_around(five, testing::uniform_counts(3, 2), 0.0, 1);
  other.add_means_batch(features.features.data(), features.labels.data(), features.size());
  other.finish_means();
  EXPECT_THROW(class_geometry(model, other.class_means()), Error);
}

}  // namespace
}  // namespace collapse::nc
