#pragma once
// The MSE loss of a linear classifier on the last-layer features, split as Han, Papyan & Donoho (ICLR 2022,
// "Neural collapse under MSE loss: proximity to and dynamics on the central path", §3) split it. With
// targets κ·e_y, class frequencies π_c, class means μ_c, the within-class covariance Σ_W, the weight decay λ
// of the run (on W and b, as SGD applies it) and any classifier (W, b):
//   L(W, b) = ½·(1/N)·Σ_i ‖W h_i + b − κ e_{y_i}‖² + ½λ(‖W‖² + ‖b‖²)
//           = ½·Tr(W Σ_W Wᵀ) + [½·Σ_c π_c ‖W μ_c + b − κ e_c‖² + ½λ(‖W‖² + ‖b‖²)]   (exact: cross terms vanish)
// Evaluated at the (ridge) least-squares classifier (W_LS, b_LS) = argmin L for these features, the two
// parts are L_NC1 (zero once the features have collapsed to their means) and L_NC2/3 (the means' fit to the
// targets, with the penalty, which collapse does not remove); L_LS = L_NC1 + L_NC2/3, and the rest,
// L_⊥ = L(W, b) − L_LS ≥ 0, is how far the trained classifier is from the least-squares one. The paper's
// observation: L_⊥ is negligible during training (the "central path"). (W_LS b_LS) = E[t x̃ᵀ](E[x̃ x̃ᵀ] + λI)⁻¹
// with x̃ = (h, 1); for λ = 0 the pseudo-inverse (eigenvalues below 1e-12 of the largest dropped).
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace collapse::nc {

struct MseDecomposition {
  double loss = 0;           // L(W, b) of the given classifier
  double least_squares = 0;  // L_LS = nc1_term + nc2_3_term
  double nc1_term = 0;       // L_NC1
  double nc2_3_term = 0;     // L_NC2/3
  double perpendicular = 0;  // L_⊥ = loss − least_squares
};
nlohmann::json to_json(const MseDecomposition& d);

// Streams the features: counts, class sums and Σ h hᵀ in float64 (p x p: fine for the p of the paper's
// networks, up to 2048 for ResNet-152), then decomposes for a given classifier.
class MseDecompositionAccumulator {
 public:
  MseDecompositionAccumulator(int64_t classes, int64_t dim);
  void add(const float* features, const int64_t* labels, int64_t n);
  // W [C, p] row-major, b [C] (null: no bias), targets κ·e_y, weight decay λ >= 0.
  MseDecomposition finish(const float* weight, const float* bias, double target, double weight_decay) const;

 private:
  int64_t classes_, dim_;
  std::vector<int64_t> counts_;
  std::vector<double> class_sums_;  // C x p
  std::vector<double> second_moment_;  // p x p, Σ h hᵀ
};

}  // namespace collapse::nc
