#pragma once
// The slow, obvious computation of NC1 and of the nearest class means, straight from the definitions of
// NEURAL_COLLAPSE.md §4 with every matrix formed: the oracle the streaming analysis is tested against
// (llm.c style: a reference beside each fast path). Memory O(N p + p²): small problems only.
// Scalar = double or long double.
#include <cstdint>
#include <vector>

#include "nc/real_pointer.h"

namespace collapse::nc {

template <class Scalar>
struct DenseNc1 {
  Scalar nc1;        // Tr(Σ_W Σ_B⁺)/C
  Scalar nc1_trace;  // Tr(Σ_W Σ_B⁺)
};

// Σ_W (p × p) and Σ_B = ṀṀᵀ/C (p × p) formed explicitly; Σ_B⁺ from an eigendecomposition of Σ_B keeping
// its top min(C − 1, p) eigenpairs above λ_max · max(p, C) · ε.
template <class Scalar>
DenseNc1<Scalar> dense_reference_nc1(RealPointer features, const int64_t* labels, int64_t n, int64_t num_classes,
                                     int64_t dim);

// argmin_c ‖h_i − μ_c‖ for each row, with μ_c the class means of (train_features, train_labels), by
// explicit distances.
std::vector<int64_t> dense_reference_nearest_means(RealPointer train_features, const int64_t* train_labels,
                                                   int64_t num_train, RealPointer features, int64_t n,
                                                   int64_t num_classes, int64_t dim);

}  // namespace collapse::nc
