// The CUDA device allocator: a caching allocator registered for DeviceType::cuda from a static initialiser,
// so core/ reaches device memory without including a CUDA header.
//
// Why caching: cudaMalloc and cudaFree are slow (cudaFree synchronises the whole device), and a training
// step allocates the same activation and gradient sizes every iteration. Freed blocks are kept by size
// and handed out again, so from the second step on a training loop makes no cudaMalloc/cudaFree at all.
//
// Reuse is safe without events because the backend runs everything on the legacy default stream: work
// that reads a block before it is freed is queued before any work that writes it after reuse.
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "backends/cuda/common.h"
#include "backends/cuda/cuda_check.h"
#include "backends/cuda/runtime.h"
#include "core/storage.h"

namespace collapse::cuda {
namespace {

// Sizes are rounded up to 512 bytes (cuDNN and vectorised kernels like 256-byte alignment, which
// cudaMalloc gives and rounding keeps for sub-allocations we never make).
constexpr size_t kRounding = 512;
// A cached block may serve a request up to this fraction smaller than itself: the last, smaller batch
// of an epoch reuses the full batch's blocks instead of allocating its own set.
constexpr size_t kSlackDivisor = 4;  // block size <= request + request / 4

class CudaCachingAllocator final : public DeviceAllocator {
 public:
  void* allocate(size_t nbytes) override {
    const size_t rounded = round_up(nbytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.lower_bound(rounded);
      if (it != free_.end() && it->first <= rounded + rounded / kSlackDivisor) {
        const size_t size = it->first;
        void* p = it->second;
        free_.erase(it);
        cached_ -= size;
        live_ += size;
        sizes_[p] = size;
        return p;
      }
    }
    void* p = device_malloc(rounded);
    std::lock_guard<std::mutex> lock(mutex_);
    ++malloc_calls_;
    live_ += rounded;
    sizes_[p] = rounded;
    peak_ = std::max(peak_, live_ + cached_);
    return p;
  }

  // Called from ~Storage, which must not throw: an unknown pointer is ignored.
  void deallocate(void* p, size_t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) return;
    const size_t size = it->second;
    sizes_.erase(it);
    live_ -= size;
    cached_ += size;
    free_.emplace(size, p);
  }

  void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) override {
    if (nbytes == 0) return;
    cudaMemcpyKind kind = cudaMemcpyDeviceToDevice;
    if (dst_dev.is_cpu()) kind = cudaMemcpyDeviceToHost;
    if (src_dev.is_cpu()) kind = cudaMemcpyHostToDevice;
    // Synchronous for host memory in both directions: a device-to-host copy returns with the data (after
    // the queued kernels that produce it), a host-to-device copy once the source may be reused.
    COLLAPSE_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, kind));
  }

  void memset_zero(void* p, size_t nbytes) override {
    if (nbytes == 0) return;
    COLLAPSE_CUDA_CHECK(cudaMemset(p, 0, nbytes));
  }

  // A strided copy within the device: dst[i] = src[i] for every logical index of `shape` (offsets in
  // elements, through each side's strides). Not yet a DeviceAllocator virtual: Tensor::copy_ refuses
  // strided CUDA sources and destinations (a channel slice, as concat's backward makes); Tensor::copy_
  // calls it for same-device copies between different layouts.
  void copy_strided(void* dst, const std::vector<int64_t>& dst_strides, const void* src,
                    const std::vector<int64_t>& src_strides, const std::vector<int64_t>& shape,
                    DType dtype) override {
    strided_copy(View{dst, shape, dst_strides, dtype}, View{const_cast<void*>(src), shape, src_strides, dtype});
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    release_locked();
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {live_, cached_, peak_, malloc_calls_};
  }

 private:
  static size_t round_up(size_t n) {
    n = n == 0 ? kRounding : n;
    return (n + kRounding - 1) / kRounding * kRounding;
  }

  // cudaMalloc, retried once after handing every cached block back when the device is full.
  void* device_malloc(size_t bytes) {
    void* p = nullptr;
    cudaError_t status = cudaMalloc(&p, bytes);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      release();
      status = cudaMalloc(&p, bytes);
    }
    if (status == cudaErrorMemoryAllocation) {
      const AllocatorStats s = stats();
      (void)cudaGetLastError();
      COLLAPSE_FAIL("CUDA out of memory allocating ", bytes, " bytes (", s.live_bytes >> 20,
                    " MiB in use by tensors, cache already released)");
    }
    COLLAPSE_CUDA_CHECK(status);
    return p;
  }

  void release_locked() {
    for (auto& [size, p] : free_) COLLAPSE_CUDA_CHECK(cudaFree(p));
    free_.clear();
    cached_ = 0;
  }

  std::mutex mutex_;
  std::multimap<size_t, void*> free_;        // cached blocks by size
  std::unordered_map<void*, size_t> sizes_;  // size of every block handed out
  size_t live_ = 0, cached_ = 0, peak_ = 0, malloc_calls_ = 0;
};

// Never destroyed: storages may be freed during static teardown, after the CUDA runtime is gone;
// deallocate only touches our own maps, never the runtime.
CudaCachingAllocator& allocator() {
  static CudaCachingAllocator* a = new CudaCachingAllocator();
  return *a;
}

[[maybe_unused]] const bool g_registered = [] {
  register_device_allocator(DeviceType::cuda, &allocator());
  return true;
}();

}  // namespace

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();  // no driver or no device: not an error for the caller
    return 0;
  }
  return count;
}

std::string device_description(int index) {
  cudaDeviceProp prop{};
  if (index < 0 || index >= device_count() || cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    (void)cudaGetLastError();
    return "";
  }
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ", " +
         std::to_string(prop.totalGlobalMem >> 30) + " GiB)";
}

void synchronize() { COLLAPSE_CUDA_CHECK(cudaDeviceSynchronize()); }

AllocatorStats allocator_stats() { return allocator().stats(); }
void release_cached_blocks() { allocator().release(); }

}  // namespace collapse::cuda
