#pragma once
// Convolution as im2col + one sgemm, for outputs of a few pixels (VGG's last stage: 2x2 maps of 512
// channels). There oneDNN 2.6's direct kernels have almost no spatial work to vectorise over and run at a
// quarter of the FMA peak, while the same work as one [N*Ho*Wo, Ci*kh*kw] x [Ci*kh*kw, Co] product runs at
// ~60% (VGG11 at width 1, batch 128, 2 threads, `bench-train-step --profile`: each 512->512 layer at 2x2
// went from 33 to 16 ms forward and from ~50 to 28 ms backward). The columns are ordered (ci, ky, kx), which is the oihw weight tensor's own row order, so the
// weights and their gradient are used in place, with no reorder.
//
// Activations are dense channels-last: x[n, h, w, ci], and the output [N*Ho*Wo, Co] is y in channels-last.
#include "backends/kernels.h"

namespace collapse::cpu {

// Whether a convolution of this shape goes through these routines (the choice depends on the shape only,
// so results are reproducible run to run).
bool conv_as_gemm(const Shape& x, const Shape& w, const Shape& y);

// x, dy, dx: dense channels-last float32; w, dw: oihw; b, db: [Co] or null. relu: y = max(0, conv + b).
void gemm_conv_forward(const Tensor& x, const Tensor& w, const float* b, const Conv2dParams& p, bool relu, Tensor& y);
void gemm_conv_backward_data(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx);
void gemm_conv_backward_weights(const Tensor& x, const Tensor& dy, const Conv2dParams& p, Tensor& dw, float* db);

}  // namespace collapse::cpu
