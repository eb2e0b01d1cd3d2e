#pragma once
// logits = W h + b for rows of features, in double: what collapse-analyze and the tests need when the
// logits do not come from a model's forward pass.
#include <cstdint>

#include <Eigen/Dense>

#include "nc/real_pointer.h"

namespace collapse::nc {

class LinearClassifier {
 public:
  // W: C × p row-major, b: C (float or double).
  LinearClassifier(RealPointer weights, RealPointer bias, int64_t num_classes, int64_t dim);

  // `features` n × p row-major → `logits` n × C row-major.
  void logits(RealPointer features, int64_t n, double* logits) const;

  const Eigen::MatrixXd& weights() const { return weights_; }
  int64_t num_classes() const { return weights_.rows(); }
  int64_t dim() const { return weights_.cols(); }

 private:
  Eigen::MatrixXd weights_;  // C × p
  Eigen::VectorXd bias_;
};

}  // namespace collapse::nc
