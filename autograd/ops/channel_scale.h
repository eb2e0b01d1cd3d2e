#pragma once
// Channel-wise scaling, y[n,c,h,w] = x[n,c,h,w] * s[n,c]: a differentiable primitive (the "excitation"
// of squeeze-and-excitation multiplies each channel of each example by its gate). Kernel slots in
// backends/channel_scale.h (implementations in backends/{ref,cpu}/channel_scale.cpp and
// backends/cuda/channel_scale.cu); the differentiable function in autograd/ops/channel_scale.cpp.
#include "autograd/variable.h"
#include "backends/channel_scale.h"

namespace collapse {

Variable channel_scale(const Variable& x, const Variable& s);

}  // namespace collapse
