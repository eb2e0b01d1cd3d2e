// Fully connected layer on cuBLAS (PyTorch's nn.Linear): x [N,K], w [M,K], b [M], y [N,M] = x wᵀ + b.
//
// cuBLAS is column-major; a row-major [R,C] matrix is the column-major [C,R] matrix with leading
// dimension C, i.e. its transpose. So each row-major product is computed as its transpose:
//   forward          yᵀ [M,N] = w·xᵀ     -> gemm(T, N, m=M, n=N, k=K, A=w, B=x)
//   backward data    dxᵀ [K,N] = wᵀ·dyᵀ  -> gemm(N, N, m=K, n=N, k=M, A=w, B=dy)
//   backward weights dwᵀ [K,M] = xᵀ·dy   -> gemm(N, T, m=K, n=M, k=N, A=x, B=dy)
// The bias is our broadcast add (forward) and per-channel sum (db = column sums of dy), both
// deterministic. Math mode is CUBLAS_DEFAULT_MATH: no TF32 (handles.cpp).
#include <limits>

#include "backends/cuda/common.h"
#include "backends/cuda/handles.h"

namespace collapse::cuda {
namespace {

void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float* a, int lda, const float* b,
          int ldb, float* c, int ldc) {
  const float one = 1.0f, zero = 0.0f;
  COLLAPSE_CUBLAS_CHECK(cublasSgemm(cublas_handle(), ta, tb, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc));
}
void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const double* a, int lda, const double* b,
          int ldb, double* c, int ldc) {
  const double one = 1.0, zero = 0.0;
  COLLAPSE_CUBLAS_CHECK(cublasDgemm(cublas_handle(), ta, tb, m, n, k, &one, a, lda, b, ldb, &zero, c, ldc));
}

struct LinearSizes {
  int N, K, M;
};

int as_int(const Check& check, int64_t v, const char* what) {
  check.that(v <= std::numeric_limits<int>::max(), what, " ", v, " exceeds cuBLAS's int range");
  return static_cast<int>(v);
}

// Sizes from x [N,K] and w [M,K] (checked against each other by Kernel::check), in cuBLAS's int range.
LinearSizes linear_sizes(const Check& check, const Tensor& x, const Tensor& w) {
  return {as_int(check, x.size(0), "N"), as_int(check, x.size(1), "K"), as_int(check, w.size(0), "M")};
}

Tensor row_major(const Tensor& t) { return dense_in(t, MemoryFormat::contiguous); }

void cuda_linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y) {
  const Check check(linear_forward.name);
  const LinearSizes s = linear_sizes(check, x, w);
  if (y.numel() == 0) return;
  StagedOutput out(y, MemoryFormat::contiguous);
  if (s.K == 0) {
    out.get().zero_();
  } else {
    const Tensor xin = row_major(x), win = row_major(w);
    dispatch_float(linear_forward.name, x.dtype(), [&](auto tag) {
      using T = decltype(tag);
      gemm(CUBLAS_OP_T, CUBLAS_OP_N, s.M, s.N, s.K, win.data<T>(), s.K, xin.data<T>(), s.K, out.get().data<T>(), s.M);
    });
  }
  if (b.defined()) add_scaled(View::of(out.get()), 1.0, View{b.raw_data(), y.shape(), {0, b.strides()[0]}, b.dtype()});
  out.finish();
}

void cuda_linear_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) {
  const Check check(linear_backward_data.name);
  const LinearSizes s = linear_sizes(check, dx, w);
  if (dx.numel() == 0) return;
  StagedOutput out(dx, MemoryFormat::contiguous);
  if (s.M == 0) {
    out.get().zero_();
  } else {
    const Tensor dyin = row_major(dy), win = row_major(w);
    dispatch_float(linear_backward_data.name, dy.dtype(), [&](auto tag) {
      using T = decltype(tag);
      gemm(CUBLAS_OP_N, CUBLAS_OP_N, s.K, s.N, s.M, win.data<T>(), s.K, dyin.data<T>(), s.M, out.get().data<T>(), s.K);
    });
  }
  out.finish();
}

void cuda_linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db) {
  const Check check(linear_backward_weights.name);
  const LinearSizes s = linear_sizes(check, x, dw);
  if (dw.numel() > 0) {
    StagedOutput out(dw, MemoryFormat::contiguous);
    if (s.N == 0) {
      out.get().zero_();
    } else {
      const Tensor xin = row_major(x), dyin = row_major(dy);
      dispatch_float(linear_backward_weights.name, x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        gemm(CUBLAS_OP_N, CUBLAS_OP_T, s.K, s.M, s.N, xin.data<T>(), s.K, dyin.data<T>(), s.M, out.get().data<T>(), s.K);
      });
    }
    out.finish();
  }
  if (db.defined()) channel_sums(linear_backward_weights.name, dy, db);
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(linear_forward, cuda, &cuda_linear_forward);
COLLAPSE_REGISTER_KERNEL(linear_backward_data, cuda, &cuda_linear_backward_data);
COLLAPSE_REGISTER_KERNEL(linear_backward_weights, cuda, &cuda_linear_backward_weights);

}  // namespace collapse::cuda
