// Strided copies on the device, and the layout staging built on them (common.h).
#include <cstdint>

#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

// Copies elements as raw bits of their size, so one kernel serves every dtype.
template <class Bits>
__global__ void strided_copy_kernel(int64_t n, StridedIter<2> it, Bits* dst, const Bits* src) {
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    int64_t off[2];
    it.offsets(i, off);
    dst[off[0]] = src[off[1]];
  }
}

}  // namespace

void strided_copy(const View& dst, const View& src) {
  check_same_view_shape("strided_copy", dst, src);
  const int64_t n = shape_numel(dst.shape);
  if (n == 0) return;
  const StridedIter<2> it = make_iter<2>(dst.shape, {&dst.strides, &src.strides});
  auto launch = [&](auto bits) {
    using Bits = decltype(bits);
    strided_copy_kernel<Bits><<<blocks_for(n), kThreads>>>(n, it, static_cast<Bits*>(dst.data),
                                                           static_cast<const Bits*>(src.data));
  };
  switch (dtype_size(dst.dtype)) {
    case 1: launch(uint8_t{}); break;
    case 4: launch(uint32_t{}); break;
    case 8: launch(uint64_t{}); break;
    default: COLLAPSE_FAIL("strided_copy: unsupported element size ", dtype_size(dst.dtype));
  }
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

Tensor dense_in(const Tensor& t, MemoryFormat format) {
  if (has_format(t, format)) return t;
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device(), format);
  strided_copy(View::of(out), View::of(t));
  return out;
}

StagedOutput::StagedOutput(Tensor& dst, MemoryFormat format, bool read_too) : dst_(dst) {
  if (has_format(dst, format)) {
    work_ = dst;
    return;
  }
  work_ = Tensor::empty(dst.shape(), dst.dtype(), dst.device(), format);
  if (read_too) strided_copy(View::of(work_), View::of(dst));
}

void StagedOutput::finish() {
  if (work_.storage() != dst_.storage()) strided_copy(View::of(dst_), View::of(work_));
  dst_.storage()->bump_version();
}

}  // namespace collapse::cuda
