// Fused log-softmax + cross-entropy, mean over the batch: logits [N,C], labels int64 [N] (on the device,
// or on the host and copied over), loss [1] on the device.
//
// Forward: one block per row. The block finds the row's maximum, sums exp(logit - max), and writes the
// probabilities and the row's loss log-sum-exp - logit[label]; a one-thread kernel then adds the row
// losses in order (deterministic) and divides by N. Everything is computed in double, as the reference
// backend does: a softmax over at most a few thousand classes costs nothing next to the network.
//
// Labels are validated before use (the reference backend's rule: every label in [0, C)): on the host when
// they live there, else with a tiny kernel whose verdict is read back. That read waits for the device,
// which costs nothing in training, where the loss is read right after (Tensor::item) anyway.
#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

// Reduces one value per thread of the block with `op` (a fixed tree: deterministic). blockDim.x must be
// a power of two; `scratch` holds blockDim.x doubles.
template <class Op>
__device__ double block_reduce(double v, double* scratch, Op op) {
  scratch[threadIdx.x] = v;
  __syncthreads();
  for (unsigned int stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) scratch[threadIdx.x] = op(scratch[threadIdx.x], scratch[threadIdx.x + stride]);
    __syncthreads();
  }
  const double result = scratch[0];
  __syncthreads();  // every thread has read the result before scratch is reused
  return result;
}

struct MaxOp {
  __device__ double operator()(double a, double b) const { return fmax(a, b); }
};
struct SumOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// A [N,C] matrix through its strides.
template <class T>
struct Matrix {
  T* data;
  int64_t row_stride, col_stride;
  __device__ T& operator()(int64_t n, int64_t c) const { return data[n * row_stride + c * col_stride]; }
};

template <class T>
__global__ void cross_entropy_rows_kernel(int64_t N, int64_t C, Matrix<const T> logits, const int64_t* labels,
                                          Matrix<T> probs, double* row_loss) {
  __shared__ double scratch[kThreads];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    double row_max = -INFINITY;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) row_max = fmax(row_max, static_cast<double>(logits(n, c)));
    row_max = block_reduce(row_max, scratch, MaxOp{});
    double sum_exp = 0.0;
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x) sum_exp += exp(static_cast<double>(logits(n, c)) - row_max);
    sum_exp = block_reduce(sum_exp, scratch, SumOp{});
    const double log_sum_exp = row_max + log(sum_exp);
    for (int64_t c = threadIdx.x; c < C; c += blockDim.x)
      probs(n, c) = static_cast<T>(exp(static_cast<double>(logits(n, c)) - log_sum_exp));
    if (threadIdx.x == 0) row_loss[n] = log_sum_exp - static_cast<double>(logits(n, labels[n]));  // -log p[label]
  }
}

template <class T>
__global__ void mean_loss_kernel(int64_t N, const double* row_loss, T* loss) {
  double total = 0.0;
  for (int64_t n = 0; n < N; ++n) total += row_loss[n];
  *loss = static_cast<T>(total / static_cast<double>(N));
}

// dlogits = scale * (probs - onehot(labels)), scale = dloss / N.
template <class T>
__global__ void cross_entropy_backward_kernel(int64_t N, int64_t C, Matrix<const T> probs, const int64_t* labels,
                                              double scale, Matrix<T> dlogits) {
  for (int64_t i = grid_thread(); i < N * C; i += grid_threads()) {
    const int64_t n = i / C, c = i % C;
    const double onehot = labels[n] == c ? 1.0 : 0.0;
    dlogits(n, c) = static_cast<T>(scale * (static_cast<double>(probs(n, c)) - onehot));
  }
}

// Counts the labels outside [0, C).
__global__ void count_bad_labels_kernel(int64_t N, int64_t C, const int64_t* labels, unsigned long long* bad) {
  for (int64_t i = grid_thread(); i < N; i += grid_threads())
    if (labels[i] < 0 || labels[i] >= C) atomicAdd(bad, 1ULL);
}

// ---------------------------------------------------------------- host side

template <class T>
Matrix<T> matrix(const Tensor& t) {
  return {t.data<std::remove_const_t<T>>(), t.strides()[0], t.strides()[1]};
}

// The first label outside [0, C), for the error message (host values).
void fail_on_host_labels(const Check& check, const std::vector<double>& labels, int64_t C, const char* scores_name,
                         const Shape& scores_shape) {
  for (size_t n = 0; n < labels.size(); ++n) {
    const auto label = static_cast<int64_t>(labels[n]);
    check.that(label >= 0 && label < C, "label ", label, " at index ", n, " is out of range [0, ", C, ") for ",
               scores_name, " ", shape_str(scores_shape));
  }
}

// The labels as a dense vector on the scores' device, each checked to lie in [0, C) (the shapes, dtypes and
// host labels are Kernel::check's).
Tensor checked_labels(const Check& check, const Tensor& scores, const char* scores_name, const Tensor& labels) {
  const int64_t N = scores.size(0), C = scores.size(1);
  if (labels.device().is_cpu()) return labels.contiguous().to(scores.device());  // range-checked by Kernel::check
  const Tensor device_labels = dense_in(labels, MemoryFormat::contiguous);
  Tensor bad = Tensor::zeros({1}, DType::i64, scores.device());
  count_bad_labels_kernel<<<blocks_for(N), kThreads>>>(N, C, device_labels.data<int64_t>(),
                                                       reinterpret_cast<unsigned long long*>(bad.data<int64_t>()));
  COLLAPSE_CUDA_CHECK_LAUNCH();
  if (bad.item() != 0) fail_on_host_labels(check, labels.to_double_vector(), C, scores_name, scores.shape());
  return device_labels;
}

void cuda_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs) {
  const Check check(cross_entropy_forward.name);
  const Tensor device_labels = checked_labels(check, logits, "logits", labels);
  loss.storage()->bump_version();
  probs.storage()->bump_version();
  const int64_t N = logits.size(0), C = logits.size(1);
  const Tensor row_loss = Tensor::empty({N}, DType::f64, logits.device());
  dispatch_float(cross_entropy_forward.name, logits.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const auto rows = static_cast<unsigned int>(std::min<int64_t>(N, 65535));
    cross_entropy_rows_kernel<T><<<rows, kThreads>>>(N, C, matrix<const T>(logits), device_labels.data<int64_t>(),
                                                     matrix<T>(probs), row_loss.data<double>());
    COLLAPSE_CUDA_CHECK_LAUNCH();
    mean_loss_kernel<T><<<1, 1>>>(N, row_loss.data<double>(), loss.data<T>());
    COLLAPSE_CUDA_CHECK_LAUNCH();
  });
}

void cuda_cross_entropy_backward(const Tensor& probs, const Tensor& labels, double dloss, Tensor& dlogits) {
  const Check check(cross_entropy_backward.name);
  const Tensor device_labels = checked_labels(check, probs, "probs", labels);
  dlogits.storage()->bump_version();
  const int64_t N = probs.size(0), C = probs.size(1);
  dispatch_float(cross_entropy_backward.name, probs.dtype(), [&](auto tag) {
    using T = decltype(tag);
    cross_entropy_backward_kernel<T><<<blocks_for(N * C), kThreads>>>(
        N, C, matrix<const T>(probs), device_labels.data<int64_t>(), dloss / static_cast<double>(N), matrix<T>(dlogits));
  });
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(cross_entropy_forward, cuda, &cuda_cross_entropy_forward);
COLLAPSE_REGISTER_KERNEL(cross_entropy_backward, cuda, &cuda_cross_entropy_backward);

}  // namespace collapse::cuda
