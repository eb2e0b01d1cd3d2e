#pragma once
// Elementwise ops on oneDNN's eltwise primitives, keyed by algorithm: an op is its algorithm, its alpha
// and beta, and which tensor its backward reads (oneDNN's *_use_dst_for_bwd algorithms read the forward's
// output, the others its input). Primitives are created once per (algorithm, parameters, shape) and
// cached, so a training step creates none after the first:
//   eltwise_forward({dnnl::algorithm::eltwise_relu_use_dst_for_bwd}, x, y);
//   eltwise_backward({dnnl::algorithm::eltwise_relu_use_dst_for_bwd}, dy, y, dx);
#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {

struct Eltwise {
  dnnl::algorithm algorithm;
  float alpha = 0.0f;  // the algorithm's parameters (LeakyReLU's slope is eltwise_relu's alpha)
  float beta = 0.0f;
};

// y = f(x) over tensors of any shape (staged through the fast layout when they are in another).
void eltwise_forward(const Eltwise& op, const Tensor& x, Tensor& y);
// dx from dy and `saved`: the forward's output y for a *_use_dst_for_bwd algorithm, else its input x.
void eltwise_backward(const Eltwise& op, const Tensor& dy, const Tensor& saved, Tensor& dx);

}  // namespace collapse::cpu
