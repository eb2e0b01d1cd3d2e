#pragma once
#include <cstdint>

namespace collapse::nc {

// Throws collapse::Error naming `caller` and the first offending row when a label is outside [0, C).
void check_labels(const int64_t* labels, int64_t n, int64_t num_classes, const char* caller);

}  // namespace collapse::nc
