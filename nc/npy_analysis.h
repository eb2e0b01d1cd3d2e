#pragma once
// The analysis of features saved as .npy files (what collapse-analyze runs): logits are recomputed as
// W h + b in double, and every metric of NEURAL_COLLAPSE.md §4 is computed in the usual two passes.
#include <optional>
#include <string>

#include "nc/metrics.h"

namespace collapse::nc {

struct NpyAnalysisFiles {
  std::string features;  // (N, p) float32 or float64
  std::string labels;    // (N,) int32, int64 or uint8, values in [0, C)
  std::string weights;   // (C, p) float32 or float64: the final Linear's weight
  std::string bias;      // (C,); empty: no bias (zeros)
  // Either both or neither.
  std::string test_features;  // (T, p)
  std::string test_labels;    // (T,)
};

// Throws collapse::Error naming the file for a missing, malformed or mis-shaped input.
CollapseMetrics analyze_npy_files(const NpyAnalysisFiles& files,
                                  std::optional<double> weight_decay_term = std::nullopt);

}  // namespace collapse::nc
