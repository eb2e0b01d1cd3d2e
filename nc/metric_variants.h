#pragma once
// The forms of the NC measurements the field uses besides the paper's (docs/metrics.md § "Variants"), from
// the same two streaming passes: no extra pass over the data, float64 throughout.
//
//   nc1_quotient  Tr Σ_W / Tr Σ_B                                   Tirer, Huang & Niles-Weed (ICML 2023)
//   cdnv          mean over class pairs c ≠ c′ of (σ_c² + σ_c′²) / (2‖μ_c − μ_c′‖²),
//                 σ_c² = E_{i in c} ‖h_i − μ_c‖²                     Galanti, György & Hutter (ICLR 2022)
//   etf_error     ‖G/‖G‖_F − (I − 11ᵀ/C)/√(C − 1)‖_F with G the Gram matrix of the centred means (ṀᵀṀ) or of
//                 the classifier rows (WWᵀ)                          Zhu et al. (NeurIPS 2021), their NC2
//   nc1_per_class NC1_c = Tr(Σ_W^c Σ_B⁺)/C, Σ_W^c the covariance of class c alone; Σ_c (n_c/N)·NC1_c = nc1
//
// The notebook's form of NC1 (Han, Papyan & Donoho 2022: Σ_B⁺ from its top C − 1 eigenpairs, not divided
// by C) is `nc1_trace`: our Σ_B⁺ keeps the same C − 1 directions whenever they are numerically non-zero.
#include <vector>

#include <Eigen/Dense>

#include "nc/class_means.h"
#include "nc/feature_pass.h"

namespace collapse::nc {

struct MetricVariants {
  double nc1_quotient = 0.0;   // NaN when Tr Σ_B = 0
  double cdnv = 0.0;           // NaN when two class means coincide
  double etf_error_means = 0.0;
  double etf_error_classifiers = 0.0;
  std::vector<double> nc1_per_class;  // C entries; NaN for all when Σ_B = 0
};

// `train`: the totals of the training split's second pass; `classifier_weights`: W, C × p.
MetricVariants metric_variants(const ClassMeans& means, const FeaturePassTotals& train,
                               const Eigen::MatrixXd& classifier_weights);

// ‖G/‖G‖_F − (I − 11ᵀ/C)/√(C − 1)‖_F for the Gram matrix G of `vectors` (p × C, one vector per column).
double etf_gram_error(const Eigen::MatrixXd& vectors);

}  // namespace collapse::nc
