#pragma once
// 3x3 stride-1 convolutions through oneDNN's Winograd F(4x4, 3x3) kernels (jit_wino_4x3), all three passes.
// Winograd computes each 4x4 output tile from a 6x6 input tile with 36 multiplies per channel pair instead
// of 144, so on the ResNet/VGG shapes it does 2-4x less arithmetic than the direct kernels. Measured here
// (batch 128, two threads, each primitive alone, forward / backward-data / backward-weights in ms, direct
// = oneDNN's fastest channels-last kernel): 32->32 at 16x16 3.5/3.9/3.0 -> 2.4/2.5/1.9, 64->64 at 8x8
// 2.7/3.6/3.1 -> 1.6/1.6/1.6, 128->128 at 4x4 2.4/2.3/3.9 -> 1.5/1.5/1.2, 64->64 at 32x32 54/66/48 ->
// 23/30/38, 512->512 at 4x4 65/55/76 -> 27/28/26. At 16->16 (32x32) it loses (5.4/5.6/3.3 vs
// 4.4/4.2/2.9), hence the rule below.
//
// oneDNN 2.6 implements Winograd only on the blocked nChw16c layout, so activations are reordered from and
// back to channels-last around each call (a fraction of a millisecond at these sizes; with 16 channels the
// two layouts are the same bytes and nothing is copied): x and y forward, dy and dx backward, dy once for
// both backward passes when they run as one call (winograd_conv_backward, the conv2d_backward slot). Where
// autograd hands them over channel-blocked (core/blocked_layout.h) they are used as they are: x, which the
// conv2d op copies once and keeps for backward-weights, and y and dy when a batch norm follows
// (conv_bn_relu), leaving one reorder of the six, dx's.
// Winograd rounds differently from the direct algorithm (against the float64 reference: 1e-6 of the largest
// output at 32 channels, 4e-6 at 256; the direct kernels 5e-7), but the route depends only on the shape,
// the machine and the switch below, so a run is reproducible. COLLAPSE_CPU_WINOGRAD=0 in the environment
// turns it off (every convolution then runs the direct kernels).
// The switch and its status string are declared in backends/arithmetic_settings.h.
#include "backends/arithmetic_settings.h"
#include "backends/kernels.h"

namespace collapse::cpu {

// Whether a convolution of this shape runs as Winograd: 3x3, stride 1, padding 1, channel counts that are
// multiples of 16 with at least 32 on one side, a machine whose oneDNN has the kernel, and the route on.
bool conv_as_winograd(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p);

// For shapes conv_as_winograd accepts (so 3x3, stride 1, padding 1). x, y, dy, dx: dense channels-last
// float32 or channel-blocked (core/blocked_layout.h: used as they are); w, dw: oihw; b, db: [Co] or
// undefined. relu: y rectified as it is written (a post-op of the kernel).
void winograd_conv_forward(const Tensor& x, const Tensor& w, const Tensor& b, bool relu, Tensor& y);
void winograd_conv_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx);
void winograd_conv_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db);
// Both backward passes, dy reordered into nChw16c once for the two (one of the six activation reorders
// of a Winograd convolution's forward and backward).
void winograd_conv_backward(const Tensor& x, const Tensor& dy, const Tensor& w, Tensor& dx, Tensor& dw, Tensor& db);

}  // namespace collapse::cpu
