#pragma once
// The random streams the data module derives from the run seed (core/rng.h derived_generator), so that
// drawing the training subset never shifts the shuffling order or the weight initialisation.
#include <cstdint>

namespace collapse {

inline constexpr uint64_t kSubsampleStream = 0xDA7A'0001;  // balanced per-class training subsets
inline constexpr uint64_t kShuffleStream = 0xDA7A'0002;    // the loader's per-epoch order

}  // namespace collapse
