#include "core/storage.h"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "core/error.h"

namespace collapse {
namespace {

// Caching CPU allocator: freed blocks are kept by exact size and reused, so a training step that
// allocates the same activations every iteration reaches a steady state with no malloc/free at all.
class CpuAllocator final : public DeviceAllocator {
 public:
  void* allocate(size_t nbytes) override {
    size_t rounded = round_up(nbytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(rounded);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= rounded;
        return p;
      }
      ++allocations_;
    }
    void* p = std::aligned_alloc(kStorageAlignment, rounded);
    if (!p) {
      release();
      p = std::aligned_alloc(kStorageAlignment, rounded);
    }
    COLLAPSE_CHECK(p, "cpu allocator: out of memory allocating ", nbytes, " bytes");
    return p;
  }
  void deallocate(void* p, size_t nbytes) override {
    size_t rounded = round_up(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    free_[rounded].push_back(p);
    cached_ += rounded;
  }
  void copy(void* dst, Device, const void* src, Device, size_t nbytes) override { std::memcpy(dst, src, nbytes); }
  void memset_zero(void* p, size_t nbytes) override { std::memset(p, 0, nbytes); }

  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    cached_ = 0;
  }
  size_t cached() const { return cached_; }
  size_t allocations() const { return allocations_; }

 private:
  static size_t round_up(size_t n) {
    n = n == 0 ? kStorageAlignment : n;
    return (n + kStorageAlignment - 1) / kStorageAlignment * kStorageAlignment;
  }
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
  size_t allocations_ = 0;
};

CpuAllocator& cpu_allocator() {
  static CpuAllocator* a = new CpuAllocator();  // never destroyed: storages may outlive static teardown
  return *a;
}

DeviceAllocator* g_allocators[2] = {nullptr, nullptr};

}  // namespace

void register_device_allocator(DeviceType type, DeviceAllocator* allocator) {
  g_allocators[static_cast<int>(type)] = allocator;
}

DeviceAllocator& device_allocator(DeviceType type) {
  if (type == DeviceType::cpu) return cpu_allocator();
  DeviceAllocator* a = g_allocators[static_cast<int>(type)];
  COLLAPSE_CHECK(a, "device cuda requested, but this build has no CUDA backend (configure with nvcc and cuDNN present)");
  return *a;
}

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = device_allocator(device.type).allocate(nbytes);
}

Storage::~Storage() { device_allocator(device_.type).deallocate(data_, nbytes_); }

size_t cpu_cached_bytes() { return cpu_allocator().cached(); }
size_t cpu_allocation_count() { return cpu_allocator().allocations(); }
void cpu_release_cache() { cpu_allocator().release(); }

}  // namespace collapse
