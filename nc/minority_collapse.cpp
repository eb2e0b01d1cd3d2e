// The minority_collapse measurement (Fang, He, Long & Su, PNAS 2021): with a long-tailed training set
// (nc-experiment --imbalance R), the classifiers of the minority classes, and their class means, can
// collapse onto each other (pairwise cosines → 1) instead of spreading as a simplex ETF (cosines
// −1/(C − 1)). Minority classes: those with fewer training examples than the largest class.
#include <algorithm>
#include <limits>

#include "nc/class_means.h"
#include "nc/geometry.h"
#include "nc/measurements.h"
#include "nc/model_analysis.h"

namespace collapse::nc {
namespace {

// Mean and largest cosine over the pairs of `group` in a C × C cosine matrix (null with fewer than 2).
nlohmann::json pair_cosines(const Eigen::MatrixXd& cosines, const std::vector<int64_t>& group) {
  if (group.size() < 2) return {{"mean_cosine", nullptr}, {"max_cosine", nullptr}};
  double sum = 0, most = -std::numeric_limits<double>::infinity();
  int64_t pairs = 0;
  for (size_t a = 0; a < group.size(); ++a)
    for (size_t b = a + 1; b < group.size(); ++b, ++pairs) {
      const double c = cosines(group[a], group[b]);
      sum += c;
      most = std::max(most, c);
    }
  return {{"mean_cosine", sum / static_cast<double>(pairs)}, {"max_cosine", most}};
}

nlohmann::json minority_collapse(MeasurementContext& ctx) {
  const Tensor w = ctx.model.classifier().weight.data().to(Device::cpu()).contiguous().to(DType::f64);
  const int64_t C = w.size(0), p = w.size(1);
  ClassMeansAccumulator accumulator(C, p);
  collect_features(ctx.model, ctx.train, ctx.device, [&](const Tensor& h, const Tensor& y, const Tensor&) {
    accumulator.add_batch(h.data<float>(), y.data<int64_t>(), h.size(0));
  });
  const ClassMeans means = accumulator.finish();
  const int64_t largest = *std::max_element(means.counts.begin(), means.counts.end());
  std::vector<int64_t> minority, majority;
  for (int64_t c = 0; c < C; ++c) (means.counts[static_cast<size_t>(c)] < largest ? minority : majority).push_back(c);

  const Eigen::MatrixXd weights =
      Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(w.data<double>(), C, p);
  const Eigen::MatrixXd classifier_cosines = pairwise_cosines(weights.transpose());
  const Eigen::MatrixXd mean_cosines = pairwise_cosines(means.centred);
  return {{"minority_classes", minority},
          {"class_counts", means.counts},
          {"etf_cosine", -1.0 / static_cast<double>(C - 1)},
          {"minority", {{"classifiers", pair_cosines(classifier_cosines, minority)},
                        {"means", pair_cosines(mean_cosines, minority)}}},
          {"majority", {{"classifiers", pair_cosines(classifier_cosines, majority)},
                        {"means", pair_cosines(mean_cosines, majority)}}}};
}

}  // namespace

COLLAPSE_REGISTER_MEASUREMENT("minority_collapse",
                              "pairwise cosines of the minority classes' classifiers and centred means against the "
                              "simplex ETF's -1/(C-1) (Fang et al. 2021; use with --imbalance)",
                              /*default_on=*/false, minority_collapse);

}  // namespace collapse::nc
