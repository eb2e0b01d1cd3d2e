#include "nc/npy_analysis.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "core/error.h"
#include "nc/collapse_analyzer.h"
#include "nc/finite_values.h"
#include "nc/linear_classifier.h"
#include "nc/npy.h"

namespace collapse::nc {
namespace {

// The array's values, which must be finite: metrics of a NaN are not numbers anyone should read.
RealPointer real_values(const NpyArray& array, const char* what) {
  COLLAPSE_CHECK(array.holds<float>() || array.holds<double>(), "npy file '", array.path(), "': ", what,
                 " must be float32 or float64, the file holds ", npy_dtype_name(array.dtype()));
  const RealPointer values = array.holds<float>() ? RealPointer(array.values<float>().data())
                                                  : RealPointer(array.values<double>().data());
  const int64_t count = array.numel();
  if (const int64_t bad = first_non_finite(values, count); bad >= 0) {
    const int64_t row_width = array.ndim() == 2 ? array.shape()[1] : count;
    const double value = values.visit([&](const auto* v) { return static_cast<double>(v[bad]); });
    COLLAPSE_FAIL("npy file '", array.path(), "': ", what, ": ", value, " at index ", bad,
                  array.ndim() == 2 ? detail::concat(" (row ", bad / row_width, ", column ", bad % row_width, ")")
                                            : std::string(),
                  "; the analysis needs finite values");
  }
  return values;
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
  const NpyArray features = read_npy(files.features);
  // W saved as W.T (p, C) is the usual slip: say so with both shapes rather than "does not match".
  COLLAPSE_CHECK(!(features.ndim() == 2 && features.shape()[1] != p && features.shape()[1] == C), "npy file '",
                 files.weights, "': classifier weights of shape ", weights.shape_str(), " look transposed: the features ",
                 files.features, " have shape ", features.shape_str(), ", so W must be (C, p) = (classes, ",
                 features.shape()[1], "), as torch.nn.Linear.weight is; save W, not W.T");
  features.expect_shape({-1, p}, "train features (N, p) with p from the weights");
  // No bias file: a classifier without bias (nn.Linear(bias=False)), the same as a zero bias.
  const NpyArray bias = files.bias.empty() ? NpyArray("(no bias)", {C}, std::vector<double>(static_cast<size_t>(C), 0.0))
                                           : read_npy(files.bias);
  bias.expect_shape({C}, "classifier bias (C,)");
  const LinearClassifier classifier(real_values(weights, "classifier weights"), real_values(bias, "classifier bias"), C,
                                    p);

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
