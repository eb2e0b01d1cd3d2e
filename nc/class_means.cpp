#include "nc/class_means.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "nc/labels.h"

namespace collapse::nc {

int64_t ClassMeans::total_count() const { return std::accumulate(counts.begin(), counts.end(), int64_t{0}); }

ClassMeansAccumulator::ClassMeansAccumulator(int64_t num_classes, int64_t dim)
    : sums_(Eigen::MatrixXd::Zero(dim, num_classes)), counts_(static_cast<size_t>(num_classes), 0) {
  COLLAPSE_CHECK(num_classes >= 2, "ClassMeansAccumulator: need at least 2 classes, got ", num_classes);
  COLLAPSE_CHECK(dim >= 1, "ClassMeansAccumulator: feature dimension must be positive, got ", dim);
}

int64_t ClassMeansAccumulator::count() const { return std::accumulate(counts_.begin(), counts_.end(), int64_t{0}); }

void ClassMeansAccumulator::add_batch(RealPointer features, const int64_t* labels, int64_t n) {
  if (n == 0) return;
  COLLAPSE_CHECK(!features.is_null(), "ClassMeansAccumulator::add_batch: features pointer is null");
  check_labels(labels, n, num_classes(), "ClassMeansAccumulator::add_batch");
  const int64_t p = dim();
  features.visit([&](const auto* h) {
    for (int64_t i = 0; i < n; ++i) {
      // Plain double summation: each class sum has relative error ~ (samples per class) · 2⁻⁵³, far
      // below what NC1 can resolve (the within-class deviations are formed in pass 2, from these means).
      double* sum = sums_.col(labels[i]).data();
      const auto* row = h + i * p;
      for (int64_t j = 0; j < p; ++j) sum[j] += static_cast<double>(row[j]);
      ++counts_[static_cast<size_t>(labels[i])];
    }
  });
}

void ClassMeansAccumulator::sum_across(const SumAcrossReplicas& sum) {
  const int64_t C = num_classes(), values = sums_.size();
  std::vector<double> packed(sums_.data(), sums_.data() + values);
  for (int64_t n : counts_) packed.push_back(static_cast<double>(n));  // exact up to 2^53
  sum(packed.data(), static_cast<int64_t>(packed.size()));
  std::copy(packed.begin(), packed.begin() + values, sums_.data());
  for (int64_t c = 0; c < C; ++c) counts_[static_cast<size_t>(c)] = static_cast<int64_t>(packed[values + c]);
}

ClassMeans ClassMeansAccumulator::finish() const {
  const int64_t C = num_classes();
  ClassMeans result;
  result.counts = counts_;
  result.means.resize(dim(), C);
  for (int64_t c = 0; c < C; ++c) {
    COLLAPSE_CHECK(counts_[static_cast<size_t>(c)] > 0, "class means: class ", c,
                   " has no training sample; every class needs at least one");
    result.means.col(c) = sums_.col(c) / static_cast<double>(counts_[static_cast<size_t>(c)]);
  }
  result.global_mean = result.means.rowwise().mean();
  result.centred = result.means.colwise() - result.global_mean;
  result.basis = between_class_basis(result.centred);
  return result;
}

}  // namespace collapse::nc
