#include "backends/cuda/handles.h"

#include <cstdlib>
#include <cstring>
#include <limits>

#include "backends/cuda/runtime.h"

namespace collapse::cuda {
namespace {

int to_int(int64_t v, const char* what) {
  COLLAPSE_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(), "cuDNN descriptor: ", what, " ", v,
                 " does not fit in an int");
  return static_cast<int>(v);
}

}  // namespace

// The handles are created on first use (not at load time: a CPU-only run never touches the driver) and
// never destroyed, since tensors and caches may outlive static destruction. Both use the default stream.
cudnnHandle_t cudnn_handle() {
  static cudnnHandle_t handle = [] {
    cudnnHandle_t h = nullptr;
    COLLAPSE_CUDNN_CHECK(cudnnCreate(&h));
    return h;
  }();
  return handle;
}

cublasHandle_t cublas_handle() {
  static cublasHandle_t handle = [] {
    cublasHandle_t h = nullptr;
    COLLAPSE_CUBLAS_CHECK(cublasCreate(&h));
    // CUBLAS_DEFAULT_MATH never lowers precision below the requested type (TF32 needs
    // CUBLAS_TF32_TENSOR_OP_MATH), so float32 GEMMs stay comparable with the CPU's.
    COLLAPSE_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
    COLLAPSE_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
    return h;
  }();
  return handle;
}

std::mutex& workspace_mutex() {
  static std::mutex m;
  return m;
}

// Grown with cudaMalloc/cudaFree of its own rather than through the caching allocator, so that the
// outgrown buffers are really returned (the cache would keep every size it ever had). cudaFree waits
// for the device, so queued work still reading the old buffer finishes first.
void* workspace(size_t bytes) {
  static void* buffer = nullptr;
  static size_t capacity = 0;
  COLLAPSE_CHECK(bytes <= kWorkspaceCap, "cuda workspace: ", bytes, " bytes requested, cap is ", kWorkspaceCap);
  if (bytes == 0) return nullptr;
  if (bytes > capacity) {
    if (buffer) COLLAPSE_CUDA_CHECK(cudaFree(buffer));
    buffer = nullptr;
    capacity = 0;
    if (cudaMalloc(&buffer, bytes) != cudaSuccess) {
      (void)cudaGetLastError();
      release_cached_blocks();  // the tensor allocator's cache may be holding the memory we need
      COLLAPSE_CUDA_CHECK(cudaMalloc(&buffer, bytes));
    }
    capacity = bytes;
  }
  return buffer;
}

bool deterministic() {
  static const bool value = [] {
    const char* env = std::getenv("COLLAPSE_CUDA_NONDETERMINISTIC");
    return !(env && std::strcmp(env, "1") == 0);
  }();
  return value;
}

cudnnDataType_t cudnn_dtype(DType dtype) {
  switch (dtype) {
    case DType::f32: return CUDNN_DATA_FLOAT;
    case DType::f64: return CUDNN_DATA_DOUBLE;
    default: COLLAPSE_FAIL("cuDNN: no data type for ", dtype_name(dtype));
  }
}

const void* cudnn_one(DType dtype) {
  static const float f = 1.0f;
  static const double d = 1.0;
  return dtype == DType::f64 ? static_cast<const void*>(&d) : static_cast<const void*>(&f);
}

const void* cudnn_zero(DType dtype) {
  static const float f = 0.0f;
  static const double d = 0.0;
  return dtype == DType::f64 ? static_cast<const void*>(&d) : static_cast<const void*>(&f);
}

void TensorDescriptor::set(DType dtype, const int64_t (&sizes)[4], const int64_t (&strides)[4]) {
  COLLAPSE_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(
      d_, cudnn_dtype(dtype), to_int(sizes[0], "N"), to_int(sizes[1], "C"), to_int(sizes[2], "H"),
      to_int(sizes[3], "W"), to_int(strides[0], "N stride"), to_int(strides[1], "C stride"),
      to_int(strides[2], "H stride"), to_int(strides[3], "W stride")));
}

void FilterDescriptor::set(DType dtype, const int64_t (&oihw)[4]) {
  COLLAPSE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d_, cudnn_dtype(dtype), CUDNN_TENSOR_NCHW, to_int(oihw[0], "Co"),
                                                  to_int(oihw[1], "Ci"), to_int(oihw[2], "kh"), to_int(oihw[3], "kw")));
}

void ConvolutionDescriptor::set(DType dtype, int64_t stride, int64_t padding) {
  const int s = to_int(stride, "stride"), p = to_int(padding, "padding");
  COLLAPSE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d_, p, p, s, s, 1, 1, CUDNN_CROSS_CORRELATION, cudnn_dtype(dtype)));
  COLLAPSE_CUDNN_CHECK(cudnnSetConvolutionMathType(d_, CUDNN_FMA_MATH));
}

}  // namespace collapse::cuda
