#include "nc/linear_classifier.h"

#include "core/error.h"
#include "nc/metrics.h"

namespace collapse::nc {

LinearClassifier::LinearClassifier(RealPointer weights, RealPointer bias, int64_t num_classes, int64_t dim)
    : weights_(classifier_matrix(weights, num_classes, dim)) {
  COLLAPSE_CHECK(!bias.is_null(), "LinearClassifier: bias pointer is null");
  bias_ = bias.visit([&](const auto* b) -> Eigen::VectorXd {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(b)>>;
    return Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(b, num_classes).template cast<double>();
  });
}

void LinearClassifier::logits(RealPointer features, int64_t n, double* logits) const {
  using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  Eigen::Map<RowMajor> out(logits, n, num_classes());
  features.visit([&](const auto* h) {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(h)>>;
    Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> rows(h, n, dim());
    out.noalias() = rows.template cast<double>() * weights_.transpose();
  });
  out.rowwise() += bias_.transpose();
}

}  // namespace collapse::nc
