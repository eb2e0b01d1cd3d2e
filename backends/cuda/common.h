#pragma once
// Host-side plumbing shared by the CUDA backend's op files (backends/cuda/*.cu): argument checks, the
// float type switch, layout staging, and the few device helpers that several ops call (strided copies,
// broadcast adds, per-channel sums). No CUDA header is included here.
//
// Layouts. Our 4-D activations are channels-last (NHWC in memory, logical NCHW shape), as on the CPU.
// Every kernel of this backend reads and writes through the tensors' strides, so row-major tensors and
// channel slices are correct too; only the cuDNN convolution and cuBLAS get their operands in one fixed
// layout, staging the rare other tensor through a copy (dense_in / StagedOutput).
//
// Streams. Everything runs on the legacy default stream, in issue order: a buffer freed to the caching
// allocator and handed out again is only touched by later work on that same stream, so no event
// bookkeeping is needed, and device-to-host copies (Tensor::item) wait for the results they read.
#include <string>
#include <utility>

#include "backends/kernels.h"
#include "backends/shapes.h"
#include "core/error.h"
#include "core/tensor.h"

namespace collapse::cuda {

// A tensor as the kernels see it. Unlike Tensor it can describe broadcasts (stride 0): a bias seen as a
// [N,C,H,W] tensor with strides {0, 1, 0, 0}.
struct View {
  void* data = nullptr;
  Shape shape;
  Shape strides;  // in elements
  DType dtype = DType::f32;

  static View of(const Tensor& t) { return {t.raw_data(), t.shape(), t.strides(), t.dtype()}; }
};

// Argument checks: the shared checker of backends/shapes.h (the ops' general rules run before any
// backend, in Kernel::check; this backend only checks what is its own, such as its workspaces).
using Check = ArgCheck;

// fn(float{}) or fn(double{}); the argument is a type tag: `using T = decltype(tag);`.
template <class Fn>
void dispatch_float(const char* op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32: fn(float{}); return;
    case DType::f64: fn(double{}); return;
    default: COLLAPSE_FAIL(op, ": the cuda backend computes in float32 or float64, got ", dtype_name(dtype));
  }
}

// ---- layouts
// Channels-last for 4-D shapes, row-major for everything else (the layout Tensor::empty_activation picks).
inline MemoryFormat preferred_format(const Shape& shape) {
  return shape.size() == 4 ? MemoryFormat::channels_last : MemoryFormat::contiguous;
}
inline bool has_format(const Tensor& t, MemoryFormat format) {
  return format == MemoryFormat::contiguous ? t.is_contiguous() : t.is_channels_last();
}
// t itself when it is dense in `format`, else a copy of it in that layout (made on the device).
Tensor dense_in(const Tensor& t, MemoryFormat format);

// An output in a fixed layout: get() is the caller's tensor when it already has that layout, else a
// temporary (holding a copy of dst's values when `read_too`) that finish() copies back into dst.
class StagedOutput {
 public:
  StagedOutput(Tensor& dst, MemoryFormat format, bool read_too = false);
  Tensor& get() { return work_; }
  void finish();

 private:
  Tensor& dst_;
  Tensor work_;
};

// ---- device helpers used by several op files (strided.cu, elementwise.cu, reduce.cu)
// dst = src elementwise through both views' strides; same shape and dtype (any dtype).
void strided_copy(const View& dst, const View& src);
// acc += alpha * x elementwise; x may broadcast (zero strides). float32/float64.
void add_scaled(const View& acc, double alpha, const View& x);
// sums[c] = sum of x over every dimension but 1 ([N,C,H,W] or [N,C] -> [C]), accumulated in double in a
// fixed order (deterministic). Writes into sums (any strides), replacing its contents.
void channel_sums(const char* op, const Tensor& x, Tensor& sums);

}  // namespace collapse::cuda
