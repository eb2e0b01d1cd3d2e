#include "nc/dense_reference.h"

#include <algorithm>
#include <limits>

#include <Eigen/Dense>

#include "core/error.h"

namespace collapse::nc {
namespace {

template <class Scalar>
using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;

// Features as a p × N matrix (one sample per column) in Scalar.
template <class Scalar>
Matrix<Scalar> samples_as_columns(RealPointer features, int64_t n, int64_t dim) {
  Matrix<Scalar> h(dim, n);
  features.visit([&](const auto* f) {
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < dim; ++j) h(j, i) = static_cast<Scalar>(f[i * dim + j]);
    }
  });
  return h;
}

template <class Scalar>
Matrix<Scalar> class_means_of(const Matrix<Scalar>& h, const int64_t* labels, int64_t num_classes) {
  Matrix<Scalar> means = Matrix<Scalar>::Zero(h.rows(), num_classes);
  std::vector<int64_t> counts(static_cast<size_t>(num_classes), 0);
  for (int64_t i = 0; i < h.cols(); ++i) {
    means.col(labels[i]) += h.col(i);
    ++counts[static_cast<size_t>(labels[i])];
  }
  for (int64_t c = 0; c < num_classes; ++c) {
    COLLAPSE_CHECK(counts[static_cast<size_t>(c)] > 0, "dense reference: class ", c, " is empty");
    means.col(c) /= static_cast<Scalar>(counts[static_cast<size_t>(c)]);
  }
  return means;
}

}  // namespace

template <class Scalar>
DenseNc1<Scalar> dense_reference_nc1(RealPointer features, const int64_t* labels, int64_t n, int64_t num_classes,
                                     int64_t dim) {
  const Matrix<Scalar> h = samples_as_columns<Scalar>(features, n, dim);
  const Matrix<Scalar> means = class_means_of(h, labels, num_classes);
  const Eigen::Matrix<Scalar, Eigen::Dynamic, 1> global_mean = means.rowwise().mean();
  const Matrix<Scalar> centred = means.colwise() - global_mean;

  Matrix<Scalar> deviations(dim, n);
  for (int64_t i = 0; i < n; ++i) deviations.col(i) = h.col(i) - means.col(labels[i]);
  const Matrix<Scalar> sigma_w = deviations * deviations.transpose() / static_cast<Scalar>(n);
  const Matrix<Scalar> sigma_b = centred * centred.transpose() / static_cast<Scalar>(num_classes);

  // Eigenvalues come in increasing order: the top ones are at the end.
  Eigen::SelfAdjointEigenSolver<Matrix<Scalar>> eigen(sigma_b);
  const auto& values = eigen.eigenvalues();
  const Scalar tolerance =
      values(dim - 1) * static_cast<Scalar>(std::max(dim, num_classes)) * std::numeric_limits<Scalar>::epsilon();
  Matrix<Scalar> pinv = Matrix<Scalar>::Zero(dim, dim);
  const int64_t keep = std::min<int64_t>(num_classes - 1, dim);
  for (int64_t k = dim - 1; k >= dim - keep; --k) {
    if (values(k) <= tolerance) break;
    pinv += eigen.eigenvectors().col(k) * eigen.eigenvectors().col(k).transpose() / values(k);
  }
  const Scalar trace = (sigma_w * pinv).trace();
  return {trace / static_cast<Scalar>(num_classes), trace};
}

template DenseNc1<double> dense_reference_nc1<double>(RealPointer, const int64_t*, int64_t, int64_t, int64_t);
template DenseNc1<long double> dense_reference_nc1<long double>(RealPointer, const int64_t*, int64_t, int64_t, int64_t);

std::vector<int64_t> dense_reference_nearest_means(RealPointer train_features, const int64_t* train_labels,
                                                   int64_t num_train, RealPointer features, int64_t n,
                                                   int64_t num_classes, int64_t dim) {
  const Matrix<double> means =
      class_means_of(samples_as_columns<double>(train_features, num_train, dim), train_labels, num_classes);
  const Matrix<double> h = samples_as_columns<double>(features, n, dim);
  std::vector<int64_t> nearest(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    Eigen::Index best = 0;
    (means.colwise() - h.col(i)).colwise().squaredNorm().minCoeff(&best);
    nearest[static_cast<size_t>(i)] = best;
  }
  return nearest;
}

}  // namespace collapse::nc
