#include "layers/fixed_etf_classifier.h"

#include <cmath>
#include <vector>

#include <Eigen/Dense>

namespace collapse {

void fix_to_simplex_etf(Linear& classifier, Generator& gen) {
  const Tensor& w = classifier.weight.data();
  const int64_t C = w.size(0), p = w.size(1);
  COLLAPSE_CHECK(C >= 2, "fixed simplex-ETF classifier: needs at least 2 classes, got ", C);
  COLLAPSE_CHECK(p >= C - 1, "fixed simplex-ETF classifier: the feature dimension p = ", p, " is below C - 1 = ", C - 1,
                 " (a simplex ETF of C vectors needs C - 1 dimensions; use a larger --width)");
  // The ETF in R^C: unit rows √(C/(C−1))·(e_c − 1/C), all orthogonal to the all-ones vector; its coordinates
  // in an orthonormal basis of that (C − 1)-dimensional subspace (from a QR of the same matrix).
  const double c = static_cast<double>(C);
  const Eigen::MatrixXd etf =
      std::sqrt(c / (c - 1.0)) * (Eigen::MatrixXd::Identity(C, C) - Eigen::MatrixXd::Constant(C, C, 1.0 / c));
  const Eigen::MatrixXd basis = Eigen::HouseholderQR<Eigen::MatrixXd>(etf).householderQ() *
                                Eigen::MatrixXd::Identity(C, C - 1);
  const Eigen::MatrixXd coordinates = etf * basis;  // C × (C − 1)
  // A random orthonormal p × (C − 1) map: QR of a Gaussian matrix.
  Eigen::MatrixXd gaussian(p, C - 1);
  for (int64_t i = 0; i < p; ++i)
    for (int64_t j = 0; j < C - 1; ++j) gaussian(i, j) = gen.normal();
  const Eigen::MatrixXd embedding =
      Eigen::HouseholderQR<Eigen::MatrixXd>(gaussian).householderQ() * Eigen::MatrixXd::Identity(p, C - 1);
  const Eigen::MatrixXd weights = coordinates * embedding.transpose();  // C × p

  std::vector<double> values(static_cast<size_t>(C * p));
  for (int64_t i = 0; i < C; ++i)
    for (int64_t j = 0; j < p; ++j) values[static_cast<size_t>(i * p + j)] = weights(i, j);
  classifier.weight.data().copy_(Tensor::from_vector(values, {C, p}));
  classifier.weight.set_requires_grad(false);
  if (classifier.bias.defined()) {
    classifier.bias.data().zero_();
    classifier.bias.set_requires_grad(false);
  }
}

}  // namespace collapse
