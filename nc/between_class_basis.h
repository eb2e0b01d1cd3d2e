#pragma once
// The between-class subspace. With Ṁ = U S Vᵀ (thin SVD of the p × C centred class means), Σ_B = ṀṀᵀ/C
// = U (S²/C) Uᵀ, so Σ_B⁺ = C · U S⁻² Uᵀ and every quantity NC1 needs lives in the span of U: the p × p
// within-class covariance is never formed (NEURAL_COLLAPSE.md §4).
#include <cstdint>

#include <Eigen/Dense>

namespace collapse::nc {

struct BetweenClassBasis {
  // U: p × r with orthonormal columns, the top r left singular vectors of Ṁ. r ≤ min(C − 1, p), because
  // the columns of Ṁ sum to zero; directions whose singular value is numerically zero are dropped, as a
  // pseudo-inverse does (see between_class_basis()).
  Eigen::MatrixXd directions;
  Eigen::VectorXd singular_values;  // s_1 ≥ … ≥ s_r > 0
  // A = Uᵀ Ṁ (r × C): the centred class means in the basis. Every μ_c − μ_G lies in span(U), so
  // ‖h − μ_c‖² = ‖P⊥(h − μ_G)‖² + ‖Uᵀ(h − μ_G) − a_c‖², and the first term is the same for every class:
  // the nearest class mean (NC4) can be found in r dimensions instead of p.
  Eigen::MatrixXd mean_coordinates;
  Eigen::VectorXd mean_coordinates_sq_norms;  // ‖a_c‖², C entries

  int64_t rank() const { return directions.cols(); }
};

// Thin SVD of `centred_means` (p × C). A singular value counts as zero below s_1 · max(p, C) · ε, the
// tolerance of numpy.linalg.matrix_rank: features whose class means span fewer than C − 1 dimensions
// (p < C − 1, or coinciding means) then get the pseudo-inverse of Σ_B instead of a division by noise.
BetweenClassBasis between_class_basis(const Eigen::MatrixXd& centred_means);

}  // namespace collapse::nc
