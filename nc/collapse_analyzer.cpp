#include "nc/collapse_analyzer.h"

#include "core/error.h"

namespace collapse::nc {

CollapseAnalyzer::CollapseAnalyzer(int64_t num_classes, int64_t dim)
    : num_classes_(num_classes), dim_(dim), means_accumulator_(num_classes, dim) {}

void CollapseAnalyzer::require_means(const char* caller) const {
  COLLAPSE_CHECK(means_ != nullptr, "CollapseAnalyzer::", caller, ": call finish_means() after the first pass");
}

void CollapseAnalyzer::add_means_batch(RealPointer features, const int64_t* labels, int64_t n) {
  COLLAPSE_CHECK(means_ == nullptr, "CollapseAnalyzer::add_means_batch: the means are already finished");
  means_accumulator_.add_batch(features, labels, n);
}

void CollapseAnalyzer::finish_means(const SumAcrossReplicas& sum) {
  COLLAPSE_CHECK(means_ == nullptr, "CollapseAnalyzer::finish_means: called twice");
  if (sum) means_accumulator_.sum_across(sum);
  means_ = std::make_shared<const ClassMeans>(means_accumulator_.finish());
  train_pass_.emplace(means_, FeatureSplit::train);
  test_pass_.emplace(means_, FeatureSplit::test);
}

void CollapseAnalyzer::sum_passes_across(const SumAcrossReplicas& sum) {
  require_means("sum_passes_across");
  train_pass_->sum_across(sum);
  test_pass_->sum_across(sum);
}

void CollapseAnalyzer::add_second_pass_batch(RealPointer features, const int64_t* labels, RealPointer logits,
                                             int64_t n) {
  require_means("add_second_pass_batch");
  train_pass_->add_batch(features, labels, logits, n);
}

void CollapseAnalyzer::add_test_batch(RealPointer features, const int64_t* labels, RealPointer logits, int64_t n) {
  require_means("add_test_batch");
  test_pass_->add_batch(features, labels, logits, n);
}

CollapseMetrics CollapseAnalyzer::compute_metrics(RealPointer classifier_weights,
                                                  std::optional<double> weight_decay_term) const {
  require_means("compute_metrics");
  return nc::compute_metrics(*means_, train_pass_->totals(), &test_pass_->totals(),
                             classifier_matrix(classifier_weights, num_classes_, dim_), weight_decay_term);
}

const ClassMeans& CollapseAnalyzer::class_means() const {
  require_means("class_means");
  return *means_;
}

std::shared_ptr<const ClassMeans> CollapseAnalyzer::shared_class_means() const {
  require_means("shared_class_means");
  return means_;
}

const FeaturePassTotals& CollapseAnalyzer::train_totals() const {
  require_means("train_totals");
  return train_pass_->totals();
}

const FeaturePassTotals& CollapseAnalyzer::test_totals() const {
  require_means("test_totals");
  return test_pass_->totals();
}

}  // namespace collapse::nc
