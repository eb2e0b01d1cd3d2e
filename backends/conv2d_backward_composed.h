#pragma once
// conv2d_backward (kernels.h) as a backend's own backward-data slot followed by its backward-weights slot,
// for the backends that have nothing to share between the two passes (ref, cuda). The cpu backend shares
// the blocked copy of dy on its Winograd route (backends/cpu/conv2d.cpp).
#include "backends/kernels.h"

namespace collapse {

template <Impl I>
void composed_conv2d_backward(const Tensor& x, const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx,
                              Tensor& dw, Tensor& db) {
  if (dx.defined()) conv2d_backward_data.get(I)(dy, w, p, dx);
  if (dw.defined()) conv2d_backward_weights.get(I)(x, dy, p, dw, db);
}

}  // namespace collapse
