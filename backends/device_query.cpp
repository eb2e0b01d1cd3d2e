// Always compiled. COLLAPSE_WITH_CUDA is defined (publicly, on the collapse target) exactly when
// cmake/cuda.cmake adds backends/cuda/ to the library, whose runtime.h functions this forwards to.
#include "backends/device_query.h"

#ifdef COLLAPSE_WITH_CUDA
#include "backends/cuda/runtime.h"
#endif

namespace collapse {

#ifdef COLLAPSE_WITH_CUDA

int cuda_device_count() { return cuda::device_count(); }
bool cuda_device_available() { return cuda::device_count() > 0; }
std::string cuda_device_description(int index) { return cuda::device_description(index); }
void cuda_synchronize() {
  if (cuda_device_available()) cuda::synchronize();
}
CudaMemoryStats cuda_memory_stats() {
  const cuda::AllocatorStats s = cuda::allocator_stats();
  return {s.live_bytes, s.cached_bytes, s.peak_bytes, s.malloc_calls};
}
void cuda_release_cached_memory() { cuda::release_cached_blocks(); }

#else

int cuda_device_count() { return 0; }
bool cuda_device_available() { return false; }
std::string cuda_device_description(int) { return ""; }
void cuda_synchronize() {}
CudaMemoryStats cuda_memory_stats() { return {}; }
void cuda_release_cached_memory() {}

#endif

}  // namespace collapse
