#include "nc/mse_decomposition.h"

#include <Eigen/Dense>

#include "core/error.h"
#include "nc/measurements.h"
#include "nc/model_analysis.h"

namespace collapse::nc {

using Eigen::MatrixXd;
using Eigen::VectorXd;

nlohmann::json to_json(const MseDecomposition& d) {
  return {{"loss", d.loss}, {"least_squares", d.least_squares}, {"nc1_term", d.nc1_term},
          {"nc2_3_term", d.nc2_3_term}, {"perpendicular", d.perpendicular}};
}

MseDecompositionAccumulator::MseDecompositionAccumulator(int64_t classes, int64_t dim)
    : classes_(classes), dim_(dim), counts_(classes), class_sums_(classes * dim), second_moment_(dim * dim) {}

void MseDecompositionAccumulator::add(const float* features, const int64_t* labels, int64_t n) {
  Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> h(features, n, dim_);
  const MatrixXd hd = h.cast<double>();
  Eigen::Map<MatrixXd>(second_moment_.data(), dim_, dim_).noalias() += hd.transpose() * hd;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = labels[i];
    COLLAPSE_CHECK(c >= 0 && c < classes_, "mse_decomposition: label ", c, " outside [0, ", classes_, ")");
    ++counts_[c];
    for (int64_t j = 0; j < dim_; ++j) class_sums_[c * dim_ + j] += hd(i, j);
  }
}

namespace {
// ½·Tr(W Σ_W Wᵀ) and ½·Σ_c π_c ‖W μ_c + b − κ e_c‖² + ½λ(‖W‖² + ‖b‖²) for one classifier.
struct Parts {
  double nc1, nc2_3;
};
Parts parts(const MatrixXd& w, const VectorXd& b, const MatrixXd& means, const VectorXd& freq, const MatrixXd& sigma_w,
            double target, double weight_decay) {
  const double nc1 = 0.5 * (w * sigma_w * w.transpose()).trace();
  MatrixXd residual = w * means.transpose();  // C x C: column c is W μ_c
  residual.colwise() += b;
  residual.diagonal().array() -= target;
  const double fit = 0.5 * (residual.colwise().squaredNorm().transpose().array() * freq.array()).sum();
  return {nc1, fit + 0.5 * weight_decay * (w.squaredNorm() + b.squaredNorm())};
}
}  // namespace

MseDecomposition MseDecompositionAccumulator::finish(const float* weight, const float* bias, double target,
                                                     double weight_decay) const {
  COLLAPSE_CHECK(weight_decay >= 0, "mse_decomposition: weight decay ", weight_decay, " < 0");
  int64_t n = 0;
  for (int64_t c : counts_) n += c;
  COLLAPSE_CHECK(n > 0, "mse_decomposition: no features");
  const auto C = classes_, p = dim_;
  VectorXd freq(C);
  MatrixXd means = MatrixXd::Zero(C, p);  // row c: μ_c (0 for an empty class, which has weight 0)
  for (int64_t c = 0; c < C; ++c) {
    freq(c) = static_cast<double>(counts_[c]) / static_cast<double>(n);
    if (counts_[c] > 0)
      for (int64_t j = 0; j < p; ++j) means(c, j) = class_sums_[c * p + j] / static_cast<double>(counts_[c]);
  }
  const VectorXd global = means.transpose() * freq;
  const MatrixXd second = Eigen::Map<const MatrixXd>(second_moment_.data(), p, p) / static_cast<double>(n);
  const MatrixXd sigma_w = second - means.transpose() * freq.asDiagonal() * means;

  // The least-squares classifier through x̃ = (h, 1): θ = E[t x̃ᵀ] (E[x̃ x̃ᵀ] + λI)⁺, where
  // E[t x̃ᵀ] = (κ·diag(π)·M, κ·π) and E[x̃ x̃ᵀ] = ((1/N)Σ h hᵀ, μ_G; μ_Gᵀ, 1).
  MatrixXd moment(p + 1, p + 1);
  moment.topLeftCorner(p, p) = second;
  moment.topRightCorner(p, 1) = global;
  moment.bottomLeftCorner(1, p) = global.transpose();
  moment(p, p) = 1;
  moment.diagonal().array() += weight_decay;
  MatrixXd cross(C, p + 1);
  cross.leftCols(p) = target * freq.asDiagonal() * means;
  cross.col(p) = target * freq;
  Eigen::SelfAdjointEigenSolver<MatrixXd> eig(moment);
  const VectorXd& ev = eig.eigenvalues();
  const double cutoff = 1e-12 * std::max(ev.maxCoeff(), 0.0);
  VectorXd inv = VectorXd::Zero(p + 1);
  for (int64_t j = 0; j <= p; ++j)
    if (ev(j) > cutoff) inv(j) = 1.0 / ev(j);
  const MatrixXd theta = cross * eig.eigenvectors() * inv.asDiagonal() * eig.eigenvectors().transpose();
  const MatrixXd w_ls = theta.leftCols(p);
  const VectorXd b_ls = theta.col(p);

  Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> wf(weight, C, p);
  const MatrixXd w = wf.cast<double>();
  const VectorXd b = bias ? Eigen::Map<const Eigen::VectorXf>(bias, C).cast<double>().eval() : VectorXd::Zero(C);
  const Parts trained = parts(w, b, means, freq, sigma_w, target, weight_decay);
  const Parts ls = parts(w_ls, b_ls, means, freq, sigma_w, target, weight_decay);
  MseDecomposition d;
  d.loss = trained.nc1 + trained.nc2_3;
  d.nc1_term = ls.nc1;
  d.nc2_3_term = ls.nc2_3;
  d.least_squares = ls.nc1 + ls.nc2_3;
  d.perpendicular = d.loss - d.least_squares;
  return d;
}

namespace {
nlohmann::json mse_decomposition(MeasurementContext& ctx) {
  Linear& classifier = ctx.model.classifier();
  const Tensor w = classifier_weights(ctx.model);
  Tensor b;
  if (classifier.bias.defined()) b = classifier.bias.data().to(Device::cpu()).contiguous().to(DType::f32);
  MseDecompositionAccumulator acc(w.size(0), w.size(1));
  collect_features(ctx.model, ctx.train, ctx.device, [&](const Tensor& h, const Tensor& y, const Tensor&) {
    acc.add(h.data<float>(), y.data<int64_t>(), h.size(0));
  });
  nlohmann::json out = to_json(
      acc.finish(w.data<float>(), b.defined() ? b.data<float>() : nullptr, ctx.mse_target, ctx.weight_decay));
  out["target"] = ctx.mse_target;
  out["weight_decay"] = ctx.weight_decay;
  return out;
}
}  // namespace

COLLAPSE_REGISTER_MEASUREMENT("mse_decomposition",
                              "the classifier's MSE (with the run's weight decay) on the train features against "
                              "kappa*e_y split into the least-squares classifier's NC1 and NC2/3 terms and the "
                              "distance from it (Han, Papyan & Donoho 2022; one extra pass, p x p statistics)",
                              /*default_on=*/false, mse_decomposition);

}  // namespace collapse::nc
