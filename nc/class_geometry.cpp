#include "nc/class_geometry.h"

#include <cmath>

#include "nc/geometry.h"
#include "nc/metrics.h"
#include "nc/model_analysis.h"

namespace collapse::nc {
namespace {

struct CosineTable {
  nlohmann::json rows = nlohmann::json::array();
  double max_deviation = 0;  // from the simplex ETF's −1/(C−1), off the diagonal
};

CosineTable cosine_table(const Eigen::MatrixXd& vectors) {
  const Eigen::MatrixXd cos = pairwise_cosines(vectors);
  const auto c = cos.rows();
  const double etf = c > 1 ? -1.0 / static_cast<double>(c - 1) : 0.0;
  CosineTable t;
  for (Eigen::Index i = 0; i < c; ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (Eigen::Index j = 0; j < c; ++j) {
      const double v = cos(i, j);
      row.push_back(std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr));
      // A NaN (zero vector) makes the deviation NaN too: the geometry is undefined, not close to the ETF.
      if (i != j) t.max_deviation = std::isfinite(v) ? std::max(t.max_deviation, std::abs(v - etf)) : NAN;
    }
    t.rows.push_back(std::move(row));
  }
  return t;
}

nlohmann::json norms(const Eigen::MatrixXd& vectors) {
  nlohmann::json out = nlohmann::json::array();
  for (Eigen::Index c = 0; c < vectors.cols(); ++c) out.push_back(vectors.col(c).norm());
  return out;
}

nlohmann::json finite_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

}  // namespace

nlohmann::json class_geometry(const ClassMeans& means, const Eigen::MatrixXd& classifier_weights) {
  const Eigen::MatrixXd classifiers = classifier_weights.transpose();  // p × C, one vector per column
  const CosineTable m = cosine_table(means.centred), w = cosine_table(classifiers);
  const int64_t c = means.num_classes();
  return {{"num_classes", c},
          {"dim", means.dim()},
          {"etf_cosine", c > 1 ? -1.0 / static_cast<double>(c - 1) : 0.0},
          {"mean_cosines", m.rows},
          {"classifier_cosines", w.rows},
          {"mean_norms", norms(means.centred)},
          {"classifier_norms", norms(classifiers)},
          {"max_mean_cosine_deviation", finite_or_null(m.max_deviation)},
          {"max_classifier_cosine_deviation", finite_or_null(w.max_deviation)}};
}

nlohmann::json class_geometry(Network& model, DataLoader& train, Device device) {
  const Tensor w = classifier_weights(model);
  ClassMeansAccumulator acc(w.size(0), w.size(1));
  collect_features(model, train, device, [&](const Tensor& h, const Tensor& y, const Tensor&) {
    acc.add_batch(h.data<float>(), y.data<int64_t>(), h.size(0));
  });
  return class_geometry(acc.finish(), classifier_matrix(w.data<float>(), w.size(0), w.size(1)));
}

nlohmann::json class_geometry(Network& model, const ClassMeans& means) {
  const Tensor w = classifier_weights(model);
  COLLAPSE_CHECK(w.size(0) == means.num_classes() && w.size(1) == means.dim(), "class_geometry: class means of ",
                 means.num_classes(), " classes in ", means.dim(), " dimensions for a classifier of shape ", w.str());
  return class_geometry(means, classifier_matrix(w.data<float>(), w.size(0), w.size(1)));
}

}  // namespace collapse::nc
