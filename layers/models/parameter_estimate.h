#pragma once
// The parameter count of a model without building it at its width, so that a run can refuse a model that
// cannot fit in memory before allocating it (an absurd --width would otherwise be allocated, and the OOM
// killer would end the process without a word).
#include <cstdint>

#include "layers/models/network.h"

namespace collapse {

// Exact (the model is built) at widths up to kExactUpToWidth; above, the quadratic in the width through
// three builds at 1/4, 1/2 and 3/4: convolution and linear weights grow as width², batch-norm parameters
// and biases as width. At those widths the published channel counts and growth rates (64..512; k = 12, 24,
// 32) stay whole numbers, so the fit is close (within 3 % up to width 1.5 for every family,
// tests/test_memory_check.cpp); smaller probe widths round DenseNet's k = 12 to 2 and 5, and the
// extrapolation then misses by 2x. The probes hold at most 0.75² of the width-1 model's parameters.
inline constexpr double kExactUpToWidth = 0.75;
double estimated_parameter_count(const ModelConfig& config);

}  // namespace collapse
