#pragma once
// Pass 1 of the analysis: per-class sums and counts of the training features, accumulated in double.
// Memory is C × p whatever the number of samples. finish() turns them into the class means and the
// between-class basis that pass 2 (nc/feature_pass.h) projects onto.
#include <cstdint>
#include <vector>

#include <Eigen/Dense>

#include "core/sum_across_replicas.h"
#include "nc/between_class_basis.h"
#include "nc/real_pointer.h"

namespace collapse::nc {

// Everything pass 1 yields.
struct ClassMeans {
  Eigen::MatrixXd means;  // p × C, column c = μ_c
  // μ_G is the mean of the class means, not of the samples: every class weighs the same even when the
  // classes are unbalanced (NEURAL_COLLAPSE.md §4).
  Eigen::VectorXd global_mean;
  Eigen::MatrixXd centred;      // Ṁ = [μ_c − μ_G], p × C
  std::vector<int64_t> counts;  // training samples per class
  BetweenClassBasis basis;      // thin SVD of Ṁ

  int64_t num_classes() const { return means.cols(); }
  int64_t dim() const { return means.rows(); }
  int64_t total_count() const;
};

class ClassMeansAccumulator {
 public:
  ClassMeansAccumulator(int64_t num_classes, int64_t dim);

  // `features` is n × p, row-major; labels in [0, C).
  void add_batch(RealPointer features, const int64_t* labels, int64_t n);

  // Data parallelism: adds the other ranks' sums and counts to this rank's (every rank calls it once, after
  // its last batch), so finish() gives every rank the means of the whole set.
  void sum_across(const SumAcrossReplicas& sum);

  // Throws when a class has no sample (its mean, hence μ_G and Ṁ, would be undefined).
  ClassMeans finish() const;

  int64_t num_classes() const { return sums_.cols(); }
  int64_t dim() const { return sums_.rows(); }
  int64_t count() const;

 private:
  Eigen::MatrixXd sums_;  // p × C: column c is Σ h_i over class c (column-major, so a class is contiguous)
  std::vector<int64_t> counts_;
};

}  // namespace collapse::nc
