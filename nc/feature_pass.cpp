#include "nc/feature_pass.h"

#include <algorithm>

#include "core/error.h"
#include "nc/labels.h"

namespace collapse::nc {
namespace {

// About 4 MB of centred rows per chunk: large enough for an efficient GEMM, small enough to stay cheap
// next to a model's activations.
int64_t chunk_rows_for(int64_t dim) { return std::max<int64_t>(64, (int64_t{1} << 19) / dim); }

}  // namespace

FeaturePass::FeaturePass(std::shared_ptr<const ClassMeans> means, FeatureSplit split)
    : means_(std::move(means)), split_(split) {
  COLLAPSE_CHECK(means_ != nullptr, "FeaturePass: class means are null");
  chunk_rows_ = chunk_rows_for(means_->dim());
  totals_.class_counts.assign(static_cast<size_t>(means_->num_classes()), 0);
  const bool train = split_ == FeatureSplit::train;
  const int64_t r = train ? means_->basis.rank() : 0, C = train ? means_->num_classes() : 0;
  totals_.within_class_sq_projections = Eigen::VectorXd::Zero(r);
  totals_.within_class_sq_norms = Eigen::VectorXd::Zero(C);
  totals_.within_class_sq_projections_by_class = Eigen::MatrixXd::Zero(r, C);
}

void FeaturePass::add_batch(RealPointer features, const int64_t* labels, RealPointer logits, int64_t n) {
  if (n == 0) return;
  COLLAPSE_CHECK(!features.is_null(), "FeaturePass::add_batch: features pointer is null");
  const int64_t C = means_->num_classes();
  const int64_t p = means_->dim();
  check_labels(labels, n, C, "FeaturePass::add_batch");

  predictions_.resize(static_cast<size_t>(n));
  totals_.classification.add(logits, labels, n, C, predictions_.data());
  for (int64_t i = 0; i < n; ++i) ++totals_.class_counts[static_cast<size_t>(labels[i])];

  features.visit([&](const auto* h) {
    for (int64_t start = 0; start < n; start += chunk_rows_) {
      const int64_t rows = std::min(chunk_rows_, n - start);
      add_chunk(h + start * p, labels + start, predictions_.data() + start, rows);
    }
  });
}

void FeaturePass::sum_across(const SumAcrossReplicas& sum) {
  FeaturePassTotals& t = totals_;
  // Counts travel as doubles: exact up to 2^53.
  std::vector<double> packed = {static_cast<double>(t.classification.count), static_cast<double>(t.classification.errors),
                                t.classification.loss_sum, static_cast<double>(t.nearest_mean_disagreements)};
  for (int64_t n : t.class_counts) packed.push_back(static_cast<double>(n));
  auto pack = [&](const double* values, Eigen::Index size) { packed.insert(packed.end(), values, values + size); };
  pack(t.within_class_sq_projections.data(), t.within_class_sq_projections.size());
  pack(t.within_class_sq_norms.data(), t.within_class_sq_norms.size());
  pack(t.within_class_sq_projections_by_class.data(), t.within_class_sq_projections_by_class.size());
  sum(packed.data(), static_cast<int64_t>(packed.size()));
  t.classification.count = static_cast<int64_t>(packed[0]);
  t.classification.errors = static_cast<int64_t>(packed[1]);
  t.classification.loss_sum = packed[2];
  t.nearest_mean_disagreements = static_cast<int64_t>(packed[3]);
  size_t at = 4;
  for (int64_t& n : t.class_counts) n = static_cast<int64_t>(packed[at++]);
  auto unpack = [&](double* out, Eigen::Index size) {
    std::copy(packed.begin() + static_cast<std::ptrdiff_t>(at), packed.begin() + static_cast<std::ptrdiff_t>(at + size), out);
    at += static_cast<size_t>(size);
  };
  unpack(t.within_class_sq_projections.data(), t.within_class_sq_projections.size());
  unpack(t.within_class_sq_norms.data(), t.within_class_sq_norms.size());
  unpack(t.within_class_sq_projections_by_class.data(), t.within_class_sq_projections_by_class.size());
}

template <class T>
void FeaturePass::add_chunk(const T* features, const int64_t* labels, const int64_t* predictions, int64_t n) {
  const ClassMeans& m = *means_;
  const BetweenClassBasis& basis = m.basis;
  const int64_t p = m.dim();
  const bool train = split_ == FeatureSplit::train;

  centred_.resize(n, p);
  for (int64_t i = 0; i < n; ++i) {
    const double* centre = train ? m.means.col(labels[i]).data() : m.global_mean.data();
    const T* row = features + i * p;
    double* out = centred_.row(i).data();
    for (int64_t j = 0; j < p; ++j) out[j] = static_cast<double>(row[j]) - centre[j];
  }
  coordinates_.noalias() = centred_ * basis.directions;  // n × r

  if (train) {
    totals_.within_class_sq_projections += coordinates_.colwise().squaredNorm().transpose();
    for (int64_t i = 0; i < n; ++i) {
      totals_.within_class_sq_norms(labels[i]) += centred_.row(i).squaredNorm();
      totals_.within_class_sq_projections_by_class.col(labels[i]) += coordinates_.row(i).cwiseAbs2().transpose();
    }
    // Uᵀ(h − μ_G) = Uᵀ(h − μ_y) + a_y: the coordinates the nearest-mean search below needs.
    for (int64_t i = 0; i < n; ++i) coordinates_.row(i) += basis.mean_coordinates.col(labels[i]).transpose();
  }

  // argmin_c ‖z − a_c‖² = argmin_c (‖a_c‖² − 2 z·a_c), ties to the lowest index.
  mean_scores_.noalias() = coordinates_ * basis.mean_coordinates;  // n × C
  const int64_t C = m.num_classes();
  for (int64_t i = 0; i < n; ++i) {
    int64_t nearest = 0;
    double best = basis.mean_coordinates_sq_norms(0) - 2.0 * mean_scores_(i, 0);
    for (int64_t c = 1; c < C; ++c) {
      const double distance = basis.mean_coordinates_sq_norms(c) - 2.0 * mean_scores_(i, c);
      if (distance < best) {
        best = distance;
        nearest = c;
      }
    }
    totals_.nearest_mean_disagreements += nearest != predictions[i];
  }
}

}  // namespace collapse::nc
