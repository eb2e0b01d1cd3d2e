#pragma once
// Questions about the CUDA device that any code may ask, in any build: CPU-only builds (no CUDA backend
// compiled) and machines without a driver or GPU simply answer "no device". Tests use
// cuda_device_available() to GTEST_SKIP, programs to validate --device cuda, benchmarks to synchronise.
#include <cstddef>
#include <string>

namespace collapse {

// True when this build has the CUDA backend and at least one CUDA device answers. Never throws.
bool cuda_device_available();
int cuda_device_count();
// "NVIDIA H100 80GB HBM3 (sm_90, 79 GiB)"; "" without a device.
std::string cuda_device_description(int index = 0);
// Waits for the device's queued work (a no-op without CUDA). Call before reading a wall clock.
void cuda_synchronize();

// The CUDA caching allocator's counters (all zero without CUDA): a steady-state training step must not
// raise malloc_calls.
struct CudaMemoryStats {
  size_t live_bytes = 0;
  size_t cached_bytes = 0;
  size_t peak_bytes = 0;
  size_t malloc_calls = 0;
};
CudaMemoryStats cuda_memory_stats();
// Returns the allocator's cached blocks to the driver (a no-op without CUDA).
void cuda_release_cached_memory();

}  // namespace collapse
