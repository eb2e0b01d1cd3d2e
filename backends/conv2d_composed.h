#pragma once
// Convolution slots (kernels.h) composed of a backend's other slots, for the backends that gain nothing
// from fusing them (ref, the test oracle) or cannot yet be measured (cuda). The cpu backend runs them
// fused (backends/cpu/conv2d.cpp).
#include "backends/kernels.h"

namespace collapse {

// conv2d_backward: backward-data, then backward-weights; the cpu backend shares the blocked copy of dy
// between the two on its Winograd route.
template <Impl I>
void composed_conv2d_backward(const Tensor& x, const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx,
                              Tensor& dw, Tensor& db) {
  if (dx.defined()) conv2d_backward_data.get(I)(dy, w, p, dx);
  if (dw.defined()) conv2d_backward_weights.get(I)(x, dy, p, dw, db);
}

// conv2d_relu_forward: the convolution, then the ReLU in place (both backends' relu_forward allow it).
template <Impl I>
void composed_conv2d_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                                  Tensor& y) {
  conv2d_forward.get(I)(x, w, b, p, y);
  relu_forward.get(I)(y, y);
}

}  // namespace collapse
