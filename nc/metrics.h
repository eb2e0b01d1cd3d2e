#pragma once
// The measurements of NEURAL_COLLAPSE.md §4, as one struct and one JSON object with stable keys
// (documented in docs/metrics.md). Values that do not exist (no test split, no weight-decay term given,
// an undefined ratio) are empty optionals or NaN, and null in JSON.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <Eigen/Dense>
#include <nlohmann/json.hpp>

#include "nc/class_means.h"
#include "nc/feature_pass.h"

namespace collapse::nc {

struct CollapseMetrics {
  int64_t num_classes = 0;
  int64_t dim = 0;
  int64_t num_train = 0;
  int64_t num_test = 0;            // 0 when no test split was given
  int64_t between_class_rank = 0;  // r: singular directions of Ṁ used for Σ_B⁺ (C − 1 unless degenerate)

  double train_error = 0.0;
  double train_loss = 0.0;
  std::optional<double> weight_decay_term;  // ½·λ·‖θ‖², supplied by the trainer
  std::optional<double> train_loss_wd;      // train_loss + weight_decay_term
  std::optional<double> test_error;
  std::optional<double> test_loss;

  double nc1 = 0.0;        // Tr(Σ_W Σ_B⁺)/C (NaN when all class means coincide)
  double nc1_trace = 0.0;  // Tr(Σ_W Σ_B⁺), the notebook's value
  double equinorm_means = 0.0;
  double equinorm_classifiers = 0.0;
  double equiangular_means = 0.0;
  double equiangular_classifiers = 0.0;
  double maxangle_means = 0.0;
  double maxangle_classifiers = 0.0;
  double nc3 = 0.0;
  std::optional<double> nc4;  // on the test split
  double nc4_train = 0.0;

  // The variants of nc/metric_variants.h (docs/metrics.md § "Variants").
  double nc1_quotient = 0.0;
  double cdnv = 0.0;
  double etf_error_means = 0.0;
  double etf_error_classifiers = 0.0;
  std::vector<double> nc1_per_class;
};

// Combines the two passes. `classifier_weights` is W (C × p). `test` may be null (no test split).
// Throws when pass 2 did not see the same training samples per class as pass 1.
CollapseMetrics compute_metrics(const ClassMeans& means, const FeaturePassTotals& train, const FeaturePassTotals* test,
                                const Eigen::MatrixXd& classifier_weights,
                                std::optional<double> weight_decay_term = std::nullopt);

// W (C × p, row-major, float or double) as the double matrix compute_metrics takes.
Eigen::MatrixXd classifier_matrix(RealPointer weights, int64_t num_classes, int64_t dim);


// JSON: every key always present (docs/metrics.md). NaN and absent values are written as null.
nlohmann::json to_json(const CollapseMetrics& metrics);
void to_json(nlohmann::json& j, const CollapseMetrics& metrics);  // for `nlohmann::json j = metrics;`
CollapseMetrics metrics_from_json(const nlohmann::json& j);       // null → NaN / empty optional

// A human-readable multi-line summary.
std::string format_metrics(const CollapseMetrics& metrics);

}  // namespace collapse::nc
