#pragma once
// The library state of the CUDA backend: one cuDNN and one cuBLAS handle per process (created on first
// use), the scratch workspace that cuDNN algorithms share, and RAII wrappers for cuDNN descriptors.
//
// Numerics policy, chosen so that GPU results compare with the CPU ones:
//  - no TF32: cuDNN convolutions run with CUDNN_FMA_MATH (CUDNN_DEFAULT_MATH would allow TF32 tensor
//    cores on Ampere and later), cuBLAS with CUBLAS_DEFAULT_MATH (TF32 only with CUBLAS_TF32_TENSOR_OP_MATH);
//  - deterministic by default: only cuDNN algorithms reporting CUDNN_DETERMINISTIC are used, cuBLAS keeps
//    its default CUBLAS_ATOMICS_NOT_ALLOWED, and our own reductions have a fixed order. Setting
//    COLLAPSE_CUDA_NONDETERMINISTIC=1 in the environment lets cuDNN pick its fastest algorithm instead.
#include <cstddef>
#include <mutex>

#include "backends/cuda/cuda_check.h"
#include "core/dtype.h"

namespace collapse::cuda {

cudnnHandle_t cudnn_handle();
cublasHandle_t cublas_handle();

// Largest workspace a cuDNN algorithm may ask for (algorithms needing more are skipped).
inline constexpr size_t kWorkspaceCap = size_t{256} << 20;
// The shared workspace, grown to at least `bytes` (<= kWorkspaceCap). Hold workspace_mutex() from this
// call until the work using it has been queued.
void* workspace(size_t bytes);
std::mutex& workspace_mutex();

bool deterministic();

cudnnDataType_t cudnn_dtype(DType dtype);
// alpha = 1 and beta = 0 in the type cuDNN expects for `dtype` (double for float64 data, else float).
const void* cudnn_one(DType dtype);
const void* cudnn_zero(DType dtype);

// ---- descriptors (created once per cached shape, destroyed with it)
class TensorDescriptor {
 public:
  TensorDescriptor() { COLLAPSE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d_)); }
  ~TensorDescriptor() { cudnnDestroyTensorDescriptor(d_); }
  TensorDescriptor(const TensorDescriptor&) = delete;
  TensorDescriptor& operator=(const TensorDescriptor&) = delete;
  // Logical NCHW sizes with the tensor's real strides (channels-last or row-major).
  void set(DType dtype, const int64_t (&sizes)[4], const int64_t (&strides)[4]);
  cudnnTensorDescriptor_t get() const { return d_; }

 private:
  cudnnTensorDescriptor_t d_ = nullptr;
};

class FilterDescriptor {
 public:
  FilterDescriptor() { COLLAPSE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d_)); }
  ~FilterDescriptor() { cudnnDestroyFilterDescriptor(d_); }
  FilterDescriptor(const FilterDescriptor&) = delete;
  FilterDescriptor& operator=(const FilterDescriptor&) = delete;
  // Row-major [Co, Ci, kh, kw] weights: cuDNN's NCHW filter format ("KCRS").
  void set(DType dtype, const int64_t (&oihw)[4]);
  cudnnFilterDescriptor_t get() const { return d_; }

 private:
  cudnnFilterDescriptor_t d_ = nullptr;
};

class ConvolutionDescriptor {
 public:
  ConvolutionDescriptor() { COLLAPSE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d_)); }
  ~ConvolutionDescriptor() { cudnnDestroyConvolutionDescriptor(d_); }
  ConvolutionDescriptor(const ConvolutionDescriptor&) = delete;
  ConvolutionDescriptor& operator=(const ConvolutionDescriptor&) = delete;
  // Cross-correlation (PyTorch's convolution), symmetric padding, no dilation, FMA math (no TF32).
  void set(DType dtype, int64_t stride, int64_t padding);
  cudnnConvolutionDescriptor_t get() const { return d_; }

 private:
  cudnnConvolutionDescriptor_t d_ = nullptr;
};

}  // namespace collapse::cuda
