#pragma once
// CollapseAnalyzer: the whole NC analysis behind one object, fed batch by batch (from a forward hook on
// the classifier's input, or from files). Two passes over the training features, memory independent of N:
//
//   CollapseAnalyzer analyzer(C, p);
//   for (batch : train) analyzer.add_means_batch(h, y, n);               // pass 1: class means
//   analyzer.finish_means();                                             // μ_c, μ_G, Ṁ, SVD of Ṁ
//   for (batch : train) analyzer.add_second_pass_batch(h, y, logits, n); // pass 2: NC1, NC4, error, loss
//   for (batch : test)  analyzer.add_test_batch(h, y, logits, n);        // optional, after finish_means
//   CollapseMetrics m = analyzer.compute_metrics(W, weight_decay_term);  // W: C × p
//
// Features are n × p and logits n × C, row-major, float or double (accumulation is always double).
// Pass 2 must see exactly the training samples of pass 1 (any order, any batching); this is checked
// per class.
#include <cstdint>
#include <memory>
#include <optional>

#include "nc/class_means.h"
#include "nc/feature_pass.h"
#include "nc/metrics.h"
#include "nc/real_pointer.h"

namespace collapse::nc {

class CollapseAnalyzer {
 public:
  CollapseAnalyzer(int64_t num_classes, int64_t dim);

  void add_means_batch(RealPointer features, const int64_t* labels, int64_t n);
  // `sum` (data parallelism): each rank fed its shard of the set; the first-pass sums are added across
  // ranks before the means are formed.
  void finish_means(const SumAcrossReplicas& sum = nullptr);
  // Data parallelism: adds the second-pass and test totals across ranks (each rank once, after its last
  // batch); compute_metrics then gives every rank the single-process numbers.
  void sum_passes_across(const SumAcrossReplicas& sum);
  void add_second_pass_batch(RealPointer features, const int64_t* labels, RealPointer logits, int64_t n);
  void add_test_batch(RealPointer features, const int64_t* labels, RealPointer logits, int64_t n);

  // `classifier_weights`: W, C × p row-major. `weight_decay_term`: ½·λ·‖θ‖² over all parameters, if the
  // caller wants train_loss_wd.
  CollapseMetrics compute_metrics(RealPointer classifier_weights,
                                  std::optional<double> weight_decay_term = std::nullopt) const;

  int64_t num_classes() const { return num_classes_; }
  int64_t dim() const { return dim_; }
  bool means_finished() const { return means_ != nullptr; }
  const ClassMeans& class_means() const;  // after finish_means()
  std::shared_ptr<const ClassMeans> shared_class_means() const;  // the same, to keep beyond the analyzer
  const FeaturePassTotals& train_totals() const;
  const FeaturePassTotals& test_totals() const;

 private:
  void require_means(const char* caller) const;

  int64_t num_classes_;
  int64_t dim_;
  ClassMeansAccumulator means_accumulator_;
  std::shared_ptr<const ClassMeans> means_;
  std::optional<FeaturePass> train_pass_;
  std::optional<FeaturePass> test_pass_;
};

}  // namespace collapse::nc
