#pragma once
// Tensor: shared storage + shape + strides + dtype + device. Data only, no autograd state.
//
// Logical shapes are always NCHW for 4-D activations; the physical layout is given by the strides.
// On the CPU, activations are channels-last (strides {H*W*C, 1, W*C, C}) because that is the layout
// oneDNN's JIT kernels read without reorders (docs/design.md). Everything that reads a tensor through
// strides (the reference backend, copies, tests) works with either layout.
#include <cstdint>
#include <algorithm>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/storage.h"

namespace collapse {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

enum class MemoryFormat { contiguous, channels_last };

// Row-major strides for `shape`, or channels-last strides for a 4-D shape.
Shape contiguous_strides(const Shape& shape);
Shape channels_last_strides(const Shape& shape);

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(),
                      MemoryFormat format = MemoryFormat::contiguous);
  // 4-D tensors in the layout the device's backend prefers (channels-last on CPU and GPU), others row-major.
  static Tensor empty_activation(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(),
                      MemoryFormat format = MemoryFormat::contiguous);
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
  template <class T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const { return device_; }
  int64_t offset() const { return offset_; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  void* raw_data() const;
  template <class T> T* data() const;  // checks the dtype

  bool is_contiguous() const;     // row-major (strides of size-1 dims ignored)
  bool is_channels_last() const;  // 4-D NHWC in memory (strides of size-1 dims ignored)
  // True when the elements fill one dense block of memory in some order (either layout above).
  bool is_dense() const { return is_contiguous() || is_channels_last(); }
  bool stride_c_is_one() const;  // 4-D with unit channel stride (channels-last, possibly a channel slice)

  // A copy in the requested layout; returns *this when already in it.
  Tensor contiguous(MemoryFormat format = MemoryFormat::contiguous) const;
  Tensor clone() const;
  // Same storage, new shape; the tensor must be row-major contiguous.
  Tensor view(const Shape& shape) const;
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops `dim`

  Tensor to(DType dtype) const;
  Tensor to(Device device) const;

  // In-place writes (bump the storage version).
  void copy_(const Tensor& src);  // same shape; any layouts, dtypes and devices
  void fill_(double value);
  void zero_();

  // Element access for tests and small host-side code (slow: index arithmetic per call).
  double item() const;  // one-element tensors
  double at(std::initializer_list<int64_t> index) const;
  std::vector<double> to_double_vector() const;  // logical (row-major) order

  std::string str() const;  // "float32[2, 3, 4, 4] cpu channels_last"

 private:
  std::shared_ptr<Storage> storage_;
  int64_t offset_ = 0;  // in elements
  Shape shape_;
  Shape strides_;
  DType dtype_ = DType::f32;
  Device device_;
};

// Calls fn(offset_in_elements_a, offset_in_elements_b) for every logical index of `shape`, in row-major
// order, with offsets computed from each tensor's strides. Used by copies and the reference backend.
void for_each_offset_pair(const Shape& shape, const Shape& strides_a, const Shape& strides_b,
                          const std::function<void(int64_t, int64_t)>& fn);

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  COLLAPSE_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "Tensor::from_vector: ", values.size(),
                 " values for shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>());
  std::copy(values.begin(), values.end(), t.data<T>());
  return t;
}

}  // namespace collapse
