#include "nc/npy_analysis.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "core/error.h"
#include "nc/collapse_analyzer.h"
#include "nc/linear_classifier.h"
#include "nc/npy.h"

namespace collapse::nc {
namespace {

RealPointer real_values(const NpyArray& array, const char* what) {
  if (array.holds<float>()) return array.values<float>().data();
  if (array.holds<double>()) return array.values<double>().data();
  COLLAPSE_FAIL("npy file '", array.path(), "': ", what, " must be float32 or float64, the file holds ",
                npy_dtype_name(array.dtype()));
}

RealPointer row_offset(RealPointer rows, int64_t offset) {
  return rows.visit([&](const auto* p) { return RealPointer(p + offset); });
}

std::vector<int64_t> read_labels(const std::string& path, int64_t count, int64_t num_classes, const char* what) {
  const NpyArray array = read_npy(path);
  array.expect_shape({count}, what);
  std::vector<int64_t> labels = array.to_int64();
  for (size_t i = 0; i < labels.size(); ++i) {
    COLLAPSE_CHECK(labels[i] >= 0 && labels[i] < num_classes, "npy file '", path, "': label ", labels[i], " at index ",
                   i, " is outside [0, ", num_classes, ") (C from the classifier weights)");
  }
  return labels;
}

// Feeds `n` rows with their logits (computed chunk by chunk, so the n × C logits never exist at once).
void feed_with_logits(const LinearClassifier& classifier, RealPointer features, const int64_t* labels, int64_t n,
                      const std::function<void(RealPointer, const int64_t*, RealPointer, int64_t)>& add_batch) {
  constexpr int64_t kRows = 4096;
  const int64_t p = classifier.dim();
  std::vector<double> logits(static_cast<size_t>(std::min(kRows, n) * classifier.num_classes()));
  for (int64_t start = 0; start < n; start += kRows) {
    const int64_t rows = std::min(kRows, n - start);
    const RealPointer chunk = row_offset(features, start * p);
    classifier.logits(chunk, rows, logits.data());
    add_batch(chunk, labels + start, logits.data(), rows);
  }
}

}  // namespace

CollapseMetrics analyze_npy_files(const NpyAnalysisFiles& files, std::optional<double> weight_decay_term) {
  COLLAPSE_CHECK(files.test_features.empty() == files.test_labels.empty(),
                 "analyze_npy_files: test features and test labels must be given together");

  const NpyArray weights = read_npy(files.weights);
  weights.expect_shape({-1, -1}, "classifier weights (C, p)");
  const int64_t C = weights.shape()[0];
  const int64_t p = weights.shape()[1];
  COLLAPSE_CHECK(C >= 2, "npy file '", files.weights, "': need at least 2 classes, the weights have ", C, " rows");
  const NpyArray bias = read_npy(files.bias);
  bias.expect_shape({C}, "classifier bias (C,)");
  const LinearClassifier classifier(real_values(weights, "classifier weights"), real_values(bias, "classifier bias"), C,
                                    p);

  const NpyArray features = read_npy(files.features);
  features.expect_shape({-1, p}, "train features (N, p) with p from the weights");
  const int64_t n = features.shape()[0];
  const RealPointer h = real_values(features, "train features");
  const std::vector<int64_t> labels = read_labels(files.labels, n, C, "train labels (N,)");

  CollapseAnalyzer analyzer(C, p);
  analyzer.add_means_batch(h, labels.data(), n);
  analyzer.finish_means();
  feed_with_logits(classifier, h, labels.data(), n, [&](auto... args) { analyzer.add_second_pass_batch(args...); });

  if (!files.test_features.empty()) {
    const NpyArray test_features = read_npy(files.test_features);
    test_features.expect_shape({-1, p}, "test features (T, p) with p from the weights");
    const int64_t t = test_features.shape()[0];
    const std::vector<int64_t> test_labels = read_labels(files.test_labels, t, C, "test labels (T,)");
    feed_with_logits(classifier, real_values(test_features, "test features"), test_labels.data(), t,
                     [&](auto... args) { analyzer.add_test_batch(args...); });
  }
  return nc::compute_metrics(analyzer.class_means(), analyzer.train_totals(), &analyzer.test_totals(),
                             classifier.weights(), weight_decay_term);
}

}  // namespace collapse::nc
