#pragma once
// The kernel slots of channel_scale, filled by backends/{ref,cpu}/channel_scale.cpp and backends/cuda/channel_scale.cu; the
// differentiable function is in autograd/ops/channel_scale.h. The slots live below autograd so that kernels never
// depend on the graph layer.
#include "backends/dispatch.h"

namespace collapse {

// x [N,C,H,W] (or [N,C]: then an elementwise product), s [N,C], y shaped like x; any layouts.
using ChannelScaleForwardFn = void(const Tensor& x, const Tensor& s, Tensor& y);
// dx = dy * s (broadcast over H,W) and ds[n,c] = Σ_hw dy[n,c,h,w] x[n,c,h,w]. Either output may be
// undefined, and is then not computed (the caller did not want that gradient).
using ChannelScaleBackwardFn = void(const Tensor& dy, const Tensor& x, const Tensor& s, Tensor& dx, Tensor& ds);
// The argument rules, for every backend (backends/channel_scale.cpp).
ChannelScaleForwardFn check_channel_scale_forward;
ChannelScaleBackwardFn check_channel_scale_backward;
inline Kernel<ChannelScaleForwardFn> channel_scale_forward{"channel_scale_forward", &check_channel_scale_forward};
inline Kernel<ChannelScaleBackwardFn> channel_scale_backward{"channel_scale_backward", &check_channel_scale_backward};

}  // namespace collapse
