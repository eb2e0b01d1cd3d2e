#include "core/storage.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/error.h"

namespace collapse {
namespace {

// Caching CPU allocator: freed blocks are kept and reused, so a training step that allocates the same
// activations every iteration reaches a steady state with no malloc/free at all. A request takes the
// smallest cached block that fits and is at most twice its size (best fit), not only one of its exact size:
// a DenseNet step asks for dozens of sizes (its concatenations grow by the growth rate at every layer), and
// exact-size reuse kept ~40% of its peak memory in idle blocks no other size could use.
class CpuAllocator final : public DeviceAllocator {
 public:
  void* allocate(size_t nbytes) override {
    const size_t rounded = round_up(nbytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.lower_bound(rounded);
      if (it != free_.end() && it->first <= 2 * rounded) {
        const size_t size = it->first;
        void* p = it->second.back();
        it->second.pop_back();
        if (it->second.empty()) free_.erase(it);
        cached_ -= size;
        hand_out(p, size);
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
    std::lock_guard<std::mutex> lock(mutex_);
    hand_out(p, rounded);
    return p;
  }
  void deallocate(void* p, size_t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = block_sizes_.find(p);
    COLLAPSE_CHECK(it != block_sizes_.end(), "cpu allocator: freeing a block it did not hand out");
    const size_t size = it->second;
    block_sizes_.erase(it);
    free_[size].push_back(p);
    cached_ += size;
    live_ -= size;
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
  size_t peak_live() const { return peak_live_; }
  void reset_peak_live() {
    std::lock_guard<std::mutex> lock(mutex_);
    peak_live_ = live_;
  }

 private:
  static size_t round_up(size_t n) {
    n = n == 0 ? kStorageAlignment : n;
    return (n + kStorageAlignment - 1) / kStorageAlignment * kStorageAlignment;
  }
  void hand_out(void* p, size_t size) {  // with mutex_ held
    block_sizes_[p] = size;
    live_ += size;
    peak_live_ = std::max(peak_live_, live_);
  }

  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;     // cached blocks by size
  std::unordered_map<void*, size_t> block_sizes_;  // blocks handed out, by address: their real size
  size_t cached_ = 0;
  size_t allocations_ = 0;
  size_t live_ = 0, peak_live_ = 0;  // bytes held by tensors (not cached), and the most ever held
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
size_t cpu_peak_live_bytes() { return cpu_allocator().peak_live(); }
void cpu_reset_peak_live_bytes() { cpu_allocator().reset_peak_live(); }
void cpu_release_cache() { cpu_allocator().release(); }

}  // namespace collapse
