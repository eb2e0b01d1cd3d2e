#pragma once
// Channel-blocked activations: a [N, C, H, W] activation (C a multiple of 16) stored as the row-major 5-D
// tensor [N, C/16, H, W, 16], the layout oneDNN calls nChw16c. Its shape says what it is, so no code that
// reads tensors through their shape and strides can mistake it for a 4-D one.
//
// Why it exists: oneDNN's Winograd convolutions read and write only this layout, while our activations are
// channels-last, so the cpu backend reorders around each Winograd call. One of those reorders repeats
// work: the forward pass reorders x, and the backward-weights pass used to reorder the same x again. The
// convolution op now makes the blocked copy itself, hands it to the forward kernel and saves it for the
// backward (autograd/ops/conv2d.cpp). The kernels that accept a blocked operand say so in
// backends/shapes.h; nothing else ever receives one.
#include <cstdint>

#include "core/env_switch.h"
#include "core/tensor.h"

namespace collapse {

inline constexpr int64_t kChannelBlock = 16;

// 5-D, last dimension 16, row-major: the only blocked tensors there are.
bool is_blocked(const Tensor& t);
// [N, C, H, W] -> [N, C/16, H, W, 16] (C a multiple of 16), and back.
Shape blocked_shape(const Shape& nchw);
Shape unblocked_shape(const Shape& blocked);
// The [N, C, H, W] shape a tensor stands for: unblocked_shape for a blocked one, else its own shape.
Shape logical_shape(const Tensor& t);

// Copies between the layouts (tests and rare fallbacks; the hot paths never convert). to_blocked takes a
// 4-D cpu float32 tensor in any layout; from_blocked returns a channels-last one.
Tensor to_blocked(const Tensor& t);
Tensor from_blocked(const Tensor& blocked);

// Whether convolutions may save their input blocked (autograd/ops/conv2d.cpp). On by default;
// COLLAPSE_BLOCKED_ACTIVATIONS=0 in the environment (read once) turns it off, which saves memory where a
// convolution's input is also kept channels-last. Results are bit-identical either way: the same kernels
// compute the same values, only the copies between layouts differ.
bool blocked_activations_enabled();
// For run configs: "on" or "off (COLLAPSE_BLOCKED_ACTIVATIONS=0)".
const char* blocked_activations_status();
// Tests compare the two routes in one process.
class BlockedActivationsGuard {
 public:
  explicit BlockedActivationsGuard(bool enabled);

 private:
  EnvSwitch::Guard guard_;
};

}  // namespace collapse
