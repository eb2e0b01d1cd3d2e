// Batch normalisation over dim 1 of [N,C,H,W] or [N,C], with our own kernels rather than cuDNN's.
//
// Why not cudnnBatchNormalization*: cuDNN saves the mean and the *inverse standard deviation* while our
// API saves the batch mean and the biased variance (kernels.h), so every call would need a conversion
// kernel (and back again for the backward pass); and whether its running variance (exponentialAverageFactor
// = momentum) uses the unbiased batch variance is not stated in the cuDNN 9.19 headers, only in online
// documentation we could not check against this version without a GPU. Our own kernels give exactly the
// reference's semantics, with no convention left to trust:
//   - statistics in two passes (mean, then squared deviations), accumulated in double per channel, as
//     backends/ref/batch_norm.cpp does, so float32 inputs with a large mean lose nothing to cancellation;
//   - running_mean = (1-m)·running_mean + m·mean, running_var = (1-m)·running_var + m·var·M/(M-1)
//     (PyTorch's momentum convention, unbiased variance for the running estimate);
//   - save_mean / save_var = the batch mean and biased variance;
//   - deterministic: the per-channel sums have a fixed order (kernel_utils.cuh), no atomics.
// Each pass: stage-1 partial sums over row chunks, a one-thread-per-channel finalize kernel that turns
// the sums into per-channel coefficients, and an elementwise kernel that applies them.
#include <cmath>
#include <initializer_list>
#include <optional>
#include <utility>

#include "backends/cuda/kernel_utils.cuh"

namespace collapse::cuda {
namespace {

// ---------------------------------------------------------------- kernels

// (x - mean)^2 for the second statistics pass.
template <class T>
struct SquaredDeviationTerm {
  const T* x;
  const double* mean;
  __device__ Sums operator()(const int64_t (&off)[1], int64_t c) const {
    const double d = static_cast<double>(x[off[0]]) - mean[c];
    return {d * d, 0.0};
  }
};

// sum(dy) and sum(dy * (x - mean)) for the backward pass; operands (dy, x).
template <class T>
struct BackwardTerm {
  const T* dy;
  const T* x;
  const T* mean;
  __device__ Sums operator()(const int64_t (&off)[2], int64_t c) const {
    const double g = dy[off[0]];
    return {g, g * (static_cast<double>(x[off[1]]) - static_cast<double>(mean[c]))};
  }
};

__global__ void finalize_mean_kernel(const Sums* partial, int64_t chunks, int64_t C, double M, double* mean) {
  const int64_t c = grid_thread();
  if (c < C) mean[c] = chunk_total(partial, chunks, C, c).a / M;
}

// Per-channel coefficients of the normalisation y = (x - center) * scale + offset.
template <class T>
struct Affine {
  T* center;
  T* scale;
  T* offset;
};

// Training statistics: save_mean/save_var, the running estimates, and the affine map of the batch.
template <class T>
__global__ void finalize_train_kernel(const Sums* partial, int64_t chunks, int64_t C, double M, const double* mean,
                                      const T* gamma, const T* beta, double momentum, double eps, T* running_mean,
                                      T* running_var, T* save_mean, T* save_var, Affine<T> affine) {
  const int64_t c = grid_thread();
  if (c >= C) return;
  const double squared_deviations = chunk_total(partial, chunks, C, c).a;
  const double biased_var = squared_deviations / M;
  const double unbiased_var = squared_deviations / (M - 1.0);
  save_mean[c] = static_cast<T>(mean[c]);
  save_var[c] = static_cast<T>(biased_var);
  running_mean[c] = static_cast<T>((1.0 - momentum) * running_mean[c] + momentum * mean[c]);
  running_var[c] = static_cast<T>((1.0 - momentum) * running_var[c] + momentum * unbiased_var);
  affine.center[c] = static_cast<T>(mean[c]);
  affine.scale[c] = static_cast<T>(gamma[c] / sqrt(biased_var + eps));
  affine.offset[c] = beta[c];
}

template <class T>
__global__ void eval_affine_kernel(int64_t C, const T* gamma, const T* beta, const T* running_mean,
                                   const T* running_var, double eps, Affine<T> affine) {
  const int64_t c = grid_thread();
  if (c >= C) return;
  affine.center[c] = running_mean[c];
  affine.scale[c] = static_cast<T>(gamma[c] / sqrt(static_cast<double>(running_var[c]) + eps));
  affine.offset[c] = beta[c];
}

// y = (x - center) * scale + offset; operands (y, x). Index i runs channels fastest.
template <class T>
__global__ void normalize_kernel(ChannelIter<2> it, T* y, const T* x, Affine<T> affine) {
  const int64_t n = it.M * it.C;
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    const int64_t c = i % it.C, m = i / it.C;
    int64_t off[2];
    it.offsets(m, c, off);
    y[off[0]] = (x[off[1]] - affine.center[c]) * affine.scale[c] + affine.offset[c];
  }
}

// With xhat = (x - mean) * inv_std and M values per channel:
//   dbeta = sum dy,  dgamma = sum dy * xhat,  dx = gamma * inv_std * (dy - dbeta / M - xhat * dgamma / M).
// Stored per channel for the dx kernel: dx = scale * (dy - mean_dy - (x - center) * slope).
template <class T>
struct BackwardCoefficients {
  T* center;
  T* scale;
  T* mean_dy;
  T* slope;
};

template <class T>
__global__ void finalize_backward_kernel(const Sums* partial, int64_t chunks, int64_t C, double M, const T* gamma,
                                         const T* save_mean, const T* save_var, double eps, T* dgamma, T* dbeta,
                                         BackwardCoefficients<T> k) {
  const int64_t c = grid_thread();
  if (c >= C) return;
  const Sums s = chunk_total(partial, chunks, C, c);
  const double inv_std = 1.0 / sqrt(static_cast<double>(save_var[c]) + eps);
  const double sum_dy = s.a, sum_dy_xhat = s.b * inv_std;
  if (dgamma) dgamma[c] = static_cast<T>(sum_dy_xhat);
  if (dbeta) dbeta[c] = static_cast<T>(sum_dy);
  k.center[c] = save_mean[c];
  k.scale[c] = static_cast<T>(gamma[c] * inv_std);
  k.mean_dy[c] = static_cast<T>(sum_dy / M);
  k.slope[c] = static_cast<T>(inv_std * sum_dy_xhat / M);
}

// Operands (dx, dy, x). Reads dy and x before writing dx at each element, so dx may alias dy.
template <class T>
__global__ void backward_dx_kernel(ChannelIter<3> it, T* dx, const T* dy, const T* x, BackwardCoefficients<T> k) {
  const int64_t n = it.M * it.C;
  for (int64_t i = grid_thread(); i < n; i += grid_threads()) {
    const int64_t c = i % it.C, m = i / it.C;
    int64_t off[3];
    it.offsets(m, c, off);
    dx[off[0]] = k.scale[c] * (dy[off[1]] - k.mean_dy[c] - (x[off[2]] - k.center[c]) * k.slope[c]);
  }
}

// ---------------------------------------------------------------- host side

// A [C] tensor as a dense device vector (per-channel parameters are always contiguous in practice).
Tensor vec(const Tensor& t) { return dense_in(t, MemoryFormat::contiguous); }

// `count` per-channel arrays of T in one device buffer (the caching allocator makes it free).
struct ChannelScratch {
  Tensor buffer;
  int64_t C;
  ChannelScratch(DType dtype, int64_t count, int64_t C_, Device device)
      : buffer(Tensor::empty({count * std::max<int64_t>(C_, 1)}, dtype, device)), C(C_) {}
  template <class T>
  T* array(int64_t i) const {
    return buffer.data<T>() + i * C;
  }
};

template <class T>
Affine<T> affine_in(const ChannelScratch& s) {
  return {s.array<T>(0), s.array<T>(1), s.array<T>(2)};
}

template <class T>
void normalize(const Tensor& x, Tensor& y, const Affine<T>& affine) {
  const ChannelIter<2> it = make_channel_iter<2>(x.shape(), {&y.strides(), &x.strides()});
  const int64_t n = it.M * it.C;
  if (n == 0) return;
  normalize_kernel<T><<<blocks_for(n), kThreads>>>(it, y.data<T>(), x.data<T>(), affine);
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

template <class T>
void train_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                   Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& save_mean, Tensor& save_var) {
  const ChannelIter<1> it = make_channel_iter<1>(x.shape(), {&x.strides()});
  const ChunkPlan plan = plan_chunks(it.M);
  const Tensor partial = partial_sums_buffer(plan, it.C, x.device());
  const Tensor mean = Tensor::empty({it.C}, DType::f64, x.device());
  const double M = static_cast<double>(it.M);
  const unsigned int channel_blocks = blocks_for(it.C);

  launch_channel_partial_sums(it, plan, ValueTerm<T>{x.data<T>()}, as_sums(partial));
  finalize_mean_kernel<<<channel_blocks, kThreads>>>(as_sums(partial), plan.chunks, it.C, M, mean.data<double>());
  COLLAPSE_CUDA_CHECK_LAUNCH();
  launch_channel_partial_sums(it, plan, SquaredDeviationTerm<T>{x.data<T>(), mean.data<double>()}, as_sums(partial));

  const Tensor g = vec(gamma), b = vec(beta);
  StagedOutput rm(running_mean, MemoryFormat::contiguous, true), rv(running_var, MemoryFormat::contiguous, true);
  StagedOutput sm(save_mean, MemoryFormat::contiguous), sv(save_var, MemoryFormat::contiguous);
  const ChannelScratch scratch(x.dtype(), 3, it.C, x.device());
  finalize_train_kernel<T><<<channel_blocks, kThreads>>>(
      as_sums(partial), plan.chunks, it.C, M, mean.data<double>(), g.data<T>(), b.data<T>(), momentum, eps,
      rm.get().data<T>(), rv.get().data<T>(), sm.get().data<T>(), sv.get().data<T>(), affine_in<T>(scratch));
  COLLAPSE_CUDA_CHECK_LAUNCH();
  rm.finish();
  rv.finish();
  sm.finish();
  sv.finish();
  normalize<T>(x, y, affine_in<T>(scratch));
}

template <class T>
void eval_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                  const Tensor& running_var, double eps, Tensor& y) {
  const int64_t C = x.size(1);
  const ChannelScratch scratch(x.dtype(), 3, C, x.device());
  const Tensor g = vec(gamma), b = vec(beta), rm = vec(running_mean), rv = vec(running_var);
  eval_affine_kernel<T><<<blocks_for(C), kThreads>>>(C, g.data<T>(), b.data<T>(), rm.data<T>(), rv.data<T>(), eps,
                                                     affine_in<T>(scratch));
  COLLAPSE_CUDA_CHECK_LAUNCH();
  normalize<T>(x, y, affine_in<T>(scratch));
}

template <class T>
void backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean, const Tensor& save_var,
              double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  const ChannelIter<2> sums_it = make_channel_iter<2>(x.shape(), {&dy.strides(), &x.strides()});
  const ChunkPlan plan = plan_chunks(sums_it.M);
  const Tensor partial = partial_sums_buffer(plan, sums_it.C, x.device());
  const Tensor g = vec(gamma), mean = vec(save_mean), var = vec(save_var);
  launch_channel_partial_sums(sums_it, plan, BackwardTerm<T>{dy.data<T>(), x.data<T>(), mean.data<T>()},
                              as_sums(partial));

  std::optional<StagedOutput> dgamma_out, dbeta_out;
  if (dgamma.defined()) dgamma_out.emplace(dgamma, MemoryFormat::contiguous);
  if (dbeta.defined()) dbeta_out.emplace(dbeta, MemoryFormat::contiguous);
  const ChannelScratch scratch(x.dtype(), 4, sums_it.C, x.device());
  const BackwardCoefficients<T> k{scratch.array<T>(0), scratch.array<T>(1), scratch.array<T>(2), scratch.array<T>(3)};
  finalize_backward_kernel<T><<<blocks_for(sums_it.C), kThreads>>>(
      as_sums(partial), plan.chunks, sums_it.C, static_cast<double>(sums_it.M), g.data<T>(), mean.data<T>(),
      var.data<T>(), eps, dgamma_out ? dgamma_out->get().data<T>() : nullptr,
      dbeta_out ? dbeta_out->get().data<T>() : nullptr, k);
  COLLAPSE_CUDA_CHECK_LAUNCH();
  if (dgamma_out) dgamma_out->finish();
  if (dbeta_out) dbeta_out->finish();

  const ChannelIter<3> it = make_channel_iter<3>(x.shape(), {&dx.strides(), &dy.strides(), &x.strides()});
  const int64_t n = it.M * it.C;
  backward_dx_kernel<T><<<blocks_for(n), kThreads>>>(it, dx.data<T>(), dy.data<T>(), x.data<T>(), k);
  COLLAPSE_CUDA_CHECK_LAUNCH();
}

// ---------------------------------------------------------------- entry points (arguments checked by Kernel::check)

void cuda_batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                   Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& save_mean,
                                   Tensor& save_var) {
  y.storage()->bump_version();
  running_mean.storage()->bump_version();  // caches derived from them (layers/batch_norm_fold.h) refresh
  running_var.storage()->bump_version();
  if (x.size(1) == 0) return;
  dispatch_float(batch_norm_forward_train.name, x.dtype(), [&](auto tag) {
    train_forward<decltype(tag)>(x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean, save_var);
  });
}

void cuda_batch_norm_forward_eval(const Tensor& x, const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                                  const Tensor& running_var, double eps, Tensor& y) {
  y.storage()->bump_version();
  if (x.numel() == 0) return;
  dispatch_float(batch_norm_forward_eval.name, x.dtype(), [&](auto tag) {
    eval_forward<decltype(tag)>(x, gamma, beta, running_mean, running_var, eps, y);
  });
}

void cuda_batch_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                              const Tensor& save_var, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
  // Undefined dgamma / dbeta are not computed (a frozen affine transform).
  dx.storage()->bump_version();
  if (x.numel() == 0) return;
  dispatch_float(batch_norm_backward.name, x.dtype(), [&](auto tag) {
    backward<decltype(tag)>(dy, x, gamma, save_mean, save_var, eps, dx, dgamma, dbeta);
  });
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(batch_norm_forward_train, cuda, &cuda_batch_norm_forward_train);
COLLAPSE_REGISTER_KERNEL(batch_norm_forward_eval, cuda, &cuda_batch_norm_forward_eval);
COLLAPSE_REGISTER_KERNEL(batch_norm_backward, cuda, &cuda_batch_norm_backward);

}  // namespace collapse::cuda
