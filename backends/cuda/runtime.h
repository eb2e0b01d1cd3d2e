#pragma once
// What the CUDA backend exposes to the always-compiled parts of the library (backends/device_query.cpp)
// and to its tests. Plain C++: no CUDA header, so it can be included from any translation unit of a
// CUDA build. Everyone else should use backends/device_query.h, which also works in CPU-only builds.
#include <cstddef>
#include <string>

namespace collapse::cuda {

// Number of CUDA devices the runtime sees; 0 (never an exception) without a driver or a GPU.
int device_count();
// "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)", or "" when the device does not answer.
std::string device_description(int index);
// Waits for all work queued on the device (timing, tests).
void synchronize();

// The caching allocator's counters.
struct AllocatorStats {
  size_t live_bytes = 0;    // in blocks handed out
  size_t cached_bytes = 0;  // in freed blocks kept for reuse
  size_t peak_bytes = 0;    // max of live + cached
  size_t malloc_calls = 0;  // real cudaMalloc calls so far
};
AllocatorStats allocator_stats();
// Returns every cached block to the driver (cudaFree).
void release_cached_blocks();

}  // namespace collapse::cuda
