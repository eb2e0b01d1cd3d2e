#pragma once
// Finite-value checks for the analysis inputs: a NaN or infinity in features, logits or classifier weights
// would otherwise come out as a plausible number (an argmax over NaNs picks class 0, so NC4 reads 0.0).
#include <cstdint>

#include "core/tensor.h"
#include "nc/real_pointer.h"

namespace collapse::nc {

// The index of the first NaN or infinity among `count` values, or -1 when all are finite.
int64_t first_non_finite(RealPointer values, int64_t count);
// The same for a contiguous float32/float64 tensor on the CPU.
int64_t first_non_finite(const Tensor& values);

}  // namespace collapse::nc
