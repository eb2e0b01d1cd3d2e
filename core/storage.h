#pragma once
// Storage: one block of bytes on one device. Tensors share it; views never copy.
#include <cstddef>
#include <cstdint>
#include <memory>

#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"

namespace collapse {

// A device allocator. The CPU one is built in; the CUDA backend registers its own at load time so
// core/ never includes CUDA headers.
struct DeviceAllocator {
  virtual ~DeviceAllocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  // Copies between host and this device, or within this device.
  virtual void copy(void* dst, Device dst_dev, const void* src, Device src_dev, size_t nbytes) = 0;
  virtual void memset_zero(void* p, size_t nbytes) = 0;
  // Element-wise copy between two strided views on this device, same dtype (a channel slice of an
  // activation, a layout change). Offsets and strides are in elements.
  virtual void copy_strided(void* dst, const std::vector<int64_t>& dst_strides, const void* src,
                            const std::vector<int64_t>& src_strides, const std::vector<int64_t>& shape, DType dtype) {
    COLLAPSE_FAIL("strided copies are not supported on this device");
  }
};
void register_device_allocator(DeviceType type, DeviceAllocator* allocator);
DeviceAllocator& device_allocator(DeviceType type);

// 64-byte alignment: one AVX-512 register, one cache line.
inline constexpr size_t kStorageAlignment = 64;

class Storage {
 public:
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  // Bumped by every in-place write through the framework (optimizer step, copy_, fill_), so caches of
  // derived data (a convolution's reordered weights) know when to refresh.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  uint64_t version_ = 0;
};

// Bytes held by the CPU caching allocator, and a way to hand them back (tests, benchmarks).
size_t cpu_cached_bytes();
size_t cpu_allocation_count();  // number of real aligned_alloc calls so far
// The most bytes CPU tensors held at once (cached idle blocks not counted) since the last reset.
size_t cpu_peak_live_bytes();
void cpu_reset_peak_live_bytes();
void cpu_release_cache();

}  // namespace collapse
