#pragma once
// A classifier fixed to a simplex equiangular tight frame and not trained (Zhu et al., NeurIPS 2021; Yang et
// al., NeurIPS 2022): the geometry Neural Collapse converges to, imposed from the start, so only the
// features have to move. nc-experiment --fixed-etf-classifier.
#include "core/rng.h"
#include "layers/layers.h"

namespace collapse {

// Sets W (C × p) to C unit rows with pairwise cosines −1/(C − 1): the simplex ETF of R^(C−1), placed in R^p
// by a random orthonormal p × (C − 1) map drawn from `gen` (the "projection" when p > C − 1), and the bias
// to 0; neither requires a gradient afterwards, so the optimizer leaves them alone. Needs p ≥ C − 1.
void fix_to_simplex_etf(Linear& classifier, Generator& gen);

}  // namespace collapse
