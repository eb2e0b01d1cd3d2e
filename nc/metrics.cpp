#include "nc/metrics.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "nc/geometry.h"
#include "nc/metric_variants.h"

namespace collapse::nc {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double fraction(int64_t part, int64_t whole) { return static_cast<double>(part) / static_cast<double>(whole); }

// NC1 = Tr(Σ_W Σ_B⁺)/C. With Ṁ = U S Vᵀ: Σ_B = ṀṀᵀ/C = U (S²/C) Uᵀ, so Σ_B⁺ = C · U S⁻² Uᵀ and
//   Tr(Σ_W Σ_B⁺) = C · Σ_k u_kᵀ Σ_W u_k / s_k²,   u_kᵀ Σ_W u_k = (1/N) Σ_i (u_kᵀ(h_i − μ_{y_i}))².
// The C of Σ_B⁺ cancels the 1/C of the definition: NC1 = Σ_k (within_k / N) / s_k².
double nc1_from(const ClassMeans& means, const FeaturePassTotals& train) {
  const BetweenClassBasis& basis = means.basis;
  if (basis.rank() == 0) return kNaN;  // Σ_B = 0: no between-class spread to compare against
  const double n = static_cast<double>(train.count());
  double nc1 = 0.0;
  for (int64_t k = 0; k < basis.rank(); ++k) {
    const double s = basis.singular_values(k);
    nc1 += train.within_class_sq_projections(k) / n / (s * s);
  }
  return nc1;
}

void check_same_training_set(const ClassMeans& means, const FeaturePassTotals& train) {
  COLLAPSE_CHECK(train.count() > 0, "compute_metrics: the second pass saw no training features");
  COLLAPSE_CHECK(train.within_class_sq_projections.size() == means.basis.rank(),
                 "compute_metrics: the `train` totals come from a test-split pass");
  for (int64_t c = 0; c < means.num_classes(); ++c) {
    const auto i = static_cast<size_t>(c);
    COLLAPSE_CHECK(train.class_counts[i] == means.counts[i], "compute_metrics: class ", c, " had ", means.counts[i],
                   " samples in the first pass (means) but ", train.class_counts[i],
                   " in the second; both passes must see the same training set");
  }
}

std::optional<double> optional_from(const nlohmann::json& j, const char* key) {
  if (j.at(key).is_null()) return std::nullopt;
  return j.at(key).get<double>();
}
double double_from(const nlohmann::json& j, const char* key) {
  return j.at(key).is_null() ? kNaN : j.at(key).get<double>();
}

nlohmann::json json_number(double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(); }
nlohmann::json json_number(const std::optional<double>& value) {
  return value ? json_number(*value) : nlohmann::json();
}

}  // namespace

CollapseMetrics compute_metrics(const ClassMeans& means, const FeaturePassTotals& train, const FeaturePassTotals* test,
                                const Eigen::MatrixXd& classifier_weights, std::optional<double> weight_decay_term) {
  const int64_t C = means.num_classes();
  COLLAPSE_CHECK(classifier_weights.rows() == C && classifier_weights.cols() == means.dim(),
                 "compute_metrics: classifier weights are ", classifier_weights.rows(), " × ",
                 classifier_weights.cols(), ", expected C × p = ", C, " × ", means.dim());
  check_same_training_set(means, train);

  CollapseMetrics m;
  m.num_classes = C;
  m.dim = means.dim();
  m.num_train = train.count();
  m.between_class_rank = means.basis.rank();

  m.train_error = train.classification.error();
  m.train_loss = train.classification.loss();
  m.weight_decay_term = weight_decay_term;
  if (weight_decay_term) m.train_loss_wd = m.train_loss + *weight_decay_term;

  m.nc1 = nc1_from(means, train);
  m.nc1_trace = m.nc1 * static_cast<double>(C);

  const VectorSetGeometry mean_geometry = vector_set_geometry(means.centred);
  // Classifier rows are not centred (NEURAL_COLLAPSE.md §4): W is compared as it is.
  const VectorSetGeometry classifier_geometry = vector_set_geometry(classifier_weights.transpose());
  m.equinorm_means = mean_geometry.equinorm;
  m.equinorm_classifiers = classifier_geometry.equinorm;
  m.equiangular_means = mean_geometry.equiangular;
  m.equiangular_classifiers = classifier_geometry.equiangular;
  m.maxangle_means = mean_geometry.maxangle;
  m.maxangle_classifiers = classifier_geometry.maxangle;
  m.nc3 = self_duality_distance(classifier_weights, means.centred);
  m.nc4_train = fraction(train.nearest_mean_disagreements, train.count());
  const MetricVariants variants = metric_variants(means, train, classifier_weights);
  m.nc1_quotient = variants.nc1_quotient;
  m.cdnv = variants.cdnv;
  m.etf_error_means = variants.etf_error_means;
  m.etf_error_classifiers = variants.etf_error_classifiers;
  m.nc1_per_class = variants.nc1_per_class;

  if (test != nullptr && test->count() > 0) {
    m.num_test = test->count();
    m.test_error = test->classification.error();
    m.test_loss = test->classification.loss();
    m.nc4 = fraction(test->nearest_mean_disagreements, test->count());
  }
  return m;
}

Eigen::MatrixXd classifier_matrix(RealPointer weights, int64_t num_classes, int64_t dim) {
  COLLAPSE_CHECK(!weights.is_null(), "classifier_matrix: weights pointer is null");
  return weights.visit([&](const auto* w) -> Eigen::MatrixXd {
    using T = std::remove_cv_t<std::remove_pointer_t<decltype(w)>>;
    using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    return Eigen::Map<const RowMajor>(w, num_classes, dim).template cast<double>();
  });
}

nlohmann::json to_json(const CollapseMetrics& m) {
  nlohmann::json j;
  to_json(j, m);
  return j;
}

void to_json(nlohmann::json& j, const CollapseMetrics& m) {
  j = nlohmann::json{
      {"num_classes", m.num_classes},
      {"dim", m.dim},
      {"num_train", m.num_train},
      {"num_test", m.num_test},
      {"between_class_rank", m.between_class_rank},
      {"train_error", json_number(m.train_error)},
      {"train_loss", json_number(m.train_loss)},
      {"weight_decay_term", json_number(m.weight_decay_term)},
      {"train_loss_wd", json_number(m.train_loss_wd)},
      {"test_error", json_number(m.test_error)},
      {"test_loss", json_number(m.test_loss)},
      {"nc1", json_number(m.nc1)},
      {"nc1_trace", json_number(m.nc1_trace)},
      {"equinorm_means", json_number(m.equinorm_means)},
      {"equinorm_classifiers", json_number(m.equinorm_classifiers)},
      {"equiangular_means", json_number(m.equiangular_means)},
      {"equiangular_classifiers", json_number(m.equiangular_classifiers)},
      {"maxangle_means", json_number(m.maxangle_means)},
      {"maxangle_classifiers", json_number(m.maxangle_classifiers)},
      {"nc3", json_number(m.nc3)},
      {"nc4", json_number(m.nc4)},
      {"nc4_train", json_number(m.nc4_train)},
      {"nc1_quotient", json_number(m.nc1_quotient)},
      {"cdnv", json_number(m.cdnv)},
      {"etf_error_means", json_number(m.etf_error_means)},
      {"etf_error_classifiers", json_number(m.etf_error_classifiers)},
  };
  nlohmann::json per_class = nlohmann::json::array();
  for (double v : m.nc1_per_class) per_class.push_back(json_number(v));
  j["nc1_per_class"] = per_class;
}

CollapseMetrics metrics_from_json(const nlohmann::json& j) try {
  CollapseMetrics m;
  m.num_classes = j.at("num_classes").get<int64_t>();
  m.dim = j.at("dim").get<int64_t>();
  m.num_train = j.at("num_train").get<int64_t>();
  m.num_test = j.at("num_test").get<int64_t>();
  m.between_class_rank = j.at("between_class_rank").get<int64_t>();
  m.train_error = double_from(j, "train_error");
  m.train_loss = double_from(j, "train_loss");
  m.weight_decay_term = optional_from(j, "weight_decay_term");
  m.train_loss_wd = optional_from(j, "train_loss_wd");
  m.test_error = optional_from(j, "test_error");
  m.test_loss = optional_from(j, "test_loss");
  m.nc1 = double_from(j, "nc1");
  m.nc1_trace = double_from(j, "nc1_trace");
  m.equinorm_means = double_from(j, "equinorm_means");
  m.equinorm_classifiers = double_from(j, "equinorm_classifiers");
  m.equiangular_means = double_from(j, "equiangular_means");
  m.equiangular_classifiers = double_from(j, "equiangular_classifiers");
  m.maxangle_means = double_from(j, "maxangle_means");
  m.maxangle_classifiers = double_from(j, "maxangle_classifiers");
  m.nc3 = double_from(j, "nc3");
  m.nc4 = optional_from(j, "nc4");
  m.nc4_train = double_from(j, "nc4_train");
  // The variants came later: metrics written before them lack the keys (NaN, empty).
  auto later = [&](const char* key) { return j.contains(key) ? double_from(j, key) : kNaN; };
  m.nc1_quotient = later("nc1_quotient");
  m.cdnv = later("cdnv");
  m.etf_error_means = later("etf_error_means");
  m.etf_error_classifiers = later("etf_error_classifiers");
  if (j.contains("nc1_per_class"))
    for (const auto& v : j.at("nc1_per_class")) m.nc1_per_class.push_back(v.is_null() ? kNaN : v.get<double>());
  return m;
} catch (const nlohmann::json::exception& e) {
  COLLAPSE_FAIL("metrics_from_json: not a metrics object (docs/metrics.md): ", e.what());
}

std::string format_metrics(const CollapseMetrics& m) {
  std::ostringstream os;
  auto line = [&](const char* label, const std::string& value) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "  %-28s", label);
    os << buffer << value << "\n";
  };
  auto number = [](std::optional<double> value) {
    if (!value) return std::string("-");
    char buffer[32];
    std::snprintf(buffer, sizeof(buffer), "%.6g", *value);
    return std::string(buffer);
  };
  os << "data\n";
  line("classes C", std::to_string(m.num_classes));
  line("feature dimension p", std::to_string(m.dim));
  line("train samples", std::to_string(m.num_train));
  line("test samples", m.num_test > 0 ? std::to_string(m.num_test) : "-");
  line("between-class rank", std::to_string(m.between_class_rank));
  os << "classification (argmax Wh + b)\n";
  line("train error", number(m.train_error));
  line("train loss", number(m.train_loss));
  line("train loss + weight decay", number(m.train_loss_wd));
  line("test error", number(m.test_error));
  line("test loss", number(m.test_loss));
  os << "NC1 within-class variability\n";
  line("Tr(Sw Sb+)/C", number(m.nc1));
  line("Tr(Sw Sb+)", number(m.nc1_trace));
  line("Tr(Sw)/Tr(Sb)", number(m.nc1_quotient));
  line("CDNV (mean over pairs)", number(m.cdnv));
  os << "NC2 simplex ETF                   means       classifiers\n";
  auto pair = [&](const char* label, double means, double classifiers) {
    char buffer[64];
    std::snprintf(buffer, sizeof(buffer), "%-12s%s", number(means).c_str(), number(classifiers).c_str());
    line(label, buffer);
  };
  pair("equinorm (CoV of norms)", m.equinorm_means, m.equinorm_classifiers);
  pair("equiangular (std cos)", m.equiangular_means, m.equiangular_classifiers);
  pair("max-angle (|cos+1/(C-1)|)", m.maxangle_means, m.maxangle_classifiers);
  pair("ETF error of the Gram", m.etf_error_means, m.etf_error_classifiers);
  os << "NC3 self-duality\n";
  line("||W/|W| - M'/|M|||^2", number(m.nc3));
  os << "NC4 nearest class mean\n";
  line("disagreement (test)", number(m.nc4));
  line("disagreement (train)", number(m.nc4_train));
  return os.str();
}

}  // namespace collapse::nc
