#pragma once
// Pass 2 of the analysis: one pass over a split's features and logits once the training class means are
// known (nc/class_means.h). Memory is independent of the number of samples.
//
// Per batch (rows are processed in chunks so the scratch space stays a few MB):
//   1. classification by the logits: errors, cross-entropy, argmax (nc/classification.h);
//   2. the features, centred in double — by their own class mean μ_{y_i} on the train split (the
//      within-class deviation, formed before any product so that near collapse nothing cancels), by μ_G
//      on the test split;
//   3. one GEMM projects the centred rows on the between-class basis U (n × p times p × r);
//   4. train: Σ_i (u_kᵀ(h_i − μ_{y_i}))² per direction k: all that NC1 needs of Σ_W;
//   5. NC4: the nearest class mean, found in the r basis coordinates (see BetweenClassBasis), compared
//      with the logits' argmax.
#include <cstdint>
#include <memory>
#include <vector>

#include <Eigen/Dense>

#include "core/sum_across_replicas.h"
#include "nc/class_means.h"
#include "nc/classification.h"
#include "nc/real_pointer.h"

namespace collapse::nc {

// Which split a pass covers (named apart from data/'s Split: this module does not depend on data/).
enum class FeatureSplit { train, test };

// What a pass adds up.
struct FeaturePassTotals {
  ClassificationTally classification;
  int64_t nearest_mean_disagreements = 0;  // argmax(logits) ≠ argmin_c ‖h − μ_c‖ (NC4 numerator)
  std::vector<int64_t> class_counts;       // samples seen per label
  // Train split only: Σ_i (u_kᵀ(h_i − μ_{y_i}))² for each basis direction k (r entries). Divided by N
  // this is u_kᵀ Σ_W u_k.
  Eigen::VectorXd within_class_sq_projections;
  // Train split only: Σ_{i in c} ‖h_i − μ_c‖² per class (C entries; Tr Σ_W, CDNV) and
  // Σ_{i in c} (u_kᵀ(h_i − μ_c))² per direction and class (r × C; per-class NC1). nc/metric_variants.h.
  Eigen::VectorXd within_class_sq_norms;
  Eigen::MatrixXd within_class_sq_projections_by_class;

  int64_t count() const { return classification.count; }
};

class FeaturePass {
 public:
  FeaturePass(std::shared_ptr<const ClassMeans> means, FeatureSplit split);

  // `features` n × p and `logits` n × C, row-major, float or double; labels in [0, C).
  void add_batch(RealPointer features, const int64_t* labels, RealPointer logits, int64_t n);

  const FeaturePassTotals& totals() const { return totals_; }
  // Data parallelism: adds the other ranks' totals to this rank's (every rank calls it once, after its
  // last batch of the split).
  void sum_across(const SumAcrossReplicas& sum);
  FeatureSplit split() const { return split_; }

 private:
  template <class T>
  void add_chunk(const T* features, const int64_t* labels, const int64_t* predictions, int64_t n);

  std::shared_ptr<const ClassMeans> means_;
  FeatureSplit split_;
  int64_t chunk_rows_;
  FeaturePassTotals totals_;
  // Scratch, kept between batches to avoid reallocating.
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> centred_;      // chunk × p
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> coordinates_;  // chunk × r
  Eigen::MatrixXd mean_scores_;                                                         // chunk × C
  std::vector<int64_t> predictions_;
};

}  // namespace collapse::nc
