#pragma once
// Error checking for every CUDA runtime, cuDNN and cuBLAS call of the CUDA backend. A failure throws
// collapse::Error naming the call, where it was made and the library's own description, e.g.
//   CUDA error: cudaMalloc(&p, bytes) at backends/cuda/device_allocator.cpp:57: out of memory (code 2)
//
// Kernel launches are checked with COLLAPSE_CUDA_CHECK_LAUNCH() right after the <<<...>>>: that catches
// launch-configuration errors at once; a fault *inside* a kernel is reported by the next call that
// synchronises (a device-to-host copy, typically Tensor::item()), naming that call.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "core/error.h"

namespace collapse::cuda::detail {

[[noreturn]] inline void throw_library_error(const char* library, const char* call, const char* file, int line,
                                             int code, const char* description) {
  COLLAPSE_FAIL(library, " error: ", call, " at ", file, ":", line, ": ", description, " (code ", code, ")");
}

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  // Clear the runtime's "last error" so that the next COLLAPSE_CUDA_CHECK_LAUNCH() does not report this
  // (already thrown) failure again. Sticky errors (a kernel fault) stay set whatever we do.
  (void)cudaGetLastError();
  throw_library_error("CUDA", call, file, line, static_cast<int>(status), cudaGetErrorString(status));
}

inline void check(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS)
    throw_library_error("cuDNN", call, file, line, static_cast<int>(status), cudnnGetErrorString(status));
}

inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw_library_error("cuBLAS", call, file, line, static_cast<int>(status), cublasGetStatusString(status));
}

}  // namespace collapse::cuda::detail

// One overloaded checker serves the three libraries; the three names say at the call site which one it is.
#define COLLAPSE_CUDA_CHECK(call) ::collapse::cuda::detail::check((call), #call, __FILE__, __LINE__)
#define COLLAPSE_CUDNN_CHECK(call) ::collapse::cuda::detail::check((call), #call, __FILE__, __LINE__)
#define COLLAPSE_CUBLAS_CHECK(call) ::collapse::cuda::detail::check((call), #call, __FILE__, __LINE__)
#define COLLAPSE_CUDA_CHECK_LAUNCH() COLLAPSE_CUDA_CHECK(cudaGetLastError())
