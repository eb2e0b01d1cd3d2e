#pragma once
// What the cpu batch norm (batch_norm.cpp, oneDNN) and the fused batch norm + ReLU (batch_norm_relu.cpp,
// OpenMP loops) share: argument checks, the layout of per-channel vectors, the running-statistics update.
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {

struct BnShape {
  Shape x;
  int64_t channels;
  int64_t count;  // values per channel: N*H*W
};

// x is a float32 [N,C] or [N,C,H,W] on the CPU.
BnShape check_bn_input(const char* op, const Tensor& x);
// A per-channel vector ([C]); optional ones may be undefined.
void check_channel_vector(const char* op, const char* name, const Tensor& t, const Tensor& x, bool optional = false);
// A per-channel vector as a dense array (undefined stays undefined).
inline Tensor vector_input(const Tensor& t) { return t.defined() ? in_format(t, MemoryFormat::contiguous) : t; }
// PyTorch's update of the (optional) running statistics from the batch mean and biased variance:
// r = (1-m) r + m batch, the running variance taking the unbiased batch variance (count/(count-1)).
void update_running_stats(Tensor& running_mean, Tensor& running_var, const float* mean, const float* var,
                          double momentum, int64_t count);

}  // namespace collapse::cpu
