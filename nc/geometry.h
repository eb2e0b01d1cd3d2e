#pragma once
// NC2 and NC3: the shape of a set of C vectors (centred class means, or classifier rows) and how far the
// classifier is from the class means (NEURAL_COLLAPSE.md §4).
#include <Eigen/Dense>

namespace collapse::nc {

struct VectorSetGeometry {
  double equinorm;  // std_c ‖v_c‖ / mean_c ‖v_c‖, sample std (n − 1)
  // std over pairs c < c′ of cos(v_c, v_c′), sample std; with a single pair (C = 2) nothing can vary
  // and it is 0.
  double equiangular;
  double maxangle;  // mean over pairs c ≠ c′ of |cos(v_c, v_c′) + 1/(C − 1)|
};

// `vectors` holds one vector per column (p × C): Ṁ for the means, Wᵀ for the classifier.
VectorSetGeometry vector_set_geometry(const Eigen::MatrixXd& vectors);

// C × C matrix of cos(v_c, v_c′) (1 on the diagonal); NaN where a vector is zero.
Eigen::MatrixXd pairwise_cosines(const Eigen::MatrixXd& vectors);

// NC3: ‖W/‖W‖_F − Ṁᵀ/‖Ṁ‖_F‖²_F, W is C × p, Ṁ is p × C. The bias does not enter.
double self_duality_distance(const Eigen::MatrixXd& classifier_weights, const Eigen::MatrixXd& centred_means);

}  // namespace collapse::nc
