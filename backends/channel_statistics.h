#pragma once
// Per-channel reductions and affine maps over [N,C,H,W] (or [N,C]) activations: the pieces of batch
// normalisation whose statistics span several processes (synchronised batch norm; as PyTorch's
// batch_norm_stats / batch_norm_backward_reduce / batch_norm_backward_elemt). The local sums of each rank
// are reduced across ranks between the calls, by the caller.
//
// Per-channel tensors are float64 [C], contiguous, on the CPU: sums over a whole batch want double (the
// reduced numbers are then what one process would get up to summation order), and there are only C of them.
// Activations (x, dy, out) are float32 or float64 in any layout; implementations in
// backends/ref/channel_statistics.cpp and backends/cpu/channel_statistics.cpp.
#include "backends/dispatch.h"

namespace collapse {

// mean[c] = Σ x / M and squared_deviations[c] = Σ (x − mean[c])², over the M = N·H·W values of channel c.
using ChannelMomentsFn = void(const Tensor& x, Tensor& mean, Tensor& squared_deviations);
// sum_dy[c] = Σ dy and sum_dy_centred[c] = Σ dy·(x − centre[c]).
using ChannelGradientSumsFn = void(const Tensor& dy, const Tensor& x, const Tensor& centre, Tensor& sum_dy,
                                   Tensor& sum_dy_centred);
// out = dy_scale[c]·dy + x_scale[c]·x + shift[c], evaluated in double; dy may be undefined (the term is
// then left out, and dy_scale ignored).
using ChannelAffineFn = void(const Tensor& dy, const Tensor& x, const Tensor& dy_scale, const Tensor& x_scale,
                             const Tensor& shift, Tensor& out);

// The argument rules of the three, for every backend: shapes, dtypes and the per-channel tensors.
ChannelMomentsFn check_channel_moments;
ChannelGradientSumsFn check_channel_gradient_sums;
ChannelAffineFn check_channel_affine;
inline Kernel<ChannelMomentsFn> channel_moments{"channel_moments", &check_channel_moments};
inline Kernel<ChannelGradientSumsFn> channel_gradient_sums{"channel_gradient_sums", &check_channel_gradient_sums};
inline Kernel<ChannelAffineFn> channel_affine{"channel_affine", &check_channel_affine};

}  // namespace collapse
