#pragma once
// The differentiable ops. Each lives in autograd/ops/<op>.cpp: its forward calls the backend kernels of
// backends/kernels.h, and its Node saves what the backward kernels need.
#include <vector>

#include "autograd/variable.h"
#include "backends/classification_loss.h"
#include "backends/kernels.h"
#include "core/sum_across_replicas.h"

namespace collapse {

// The layout of conv2d's output: the device's 4-D activation layout, or, where the backend computes the
// convolution in it anyway (conv2d_runs_blocked), channel-blocked (core/blocked_layout.h), for a batch
// norm to read without a reorder (layers' conv_bn_relu). Only the batch-norm ops take a blocked input.
enum class ConvOutput { plain, blocked_when_faster };
// x [N,Ci,H,W], w [Co,Ci,k,k], b [Co] or undefined. The input's gradient is computed only when x needs
// one (the first layer's backward-data pass is skipped).
// x may be channel-blocked where conv2d_takes_blocked (a batch norm's blocked output, see
// batch_norm_add_relu); its gradient then is too.
Variable conv2d(const Variable& x, const Variable& w, const Variable& b, const Conv2dParams& p,
                ConvOutput output = ConvOutput::plain);
// Evaluation only, under NoGradGuard (it records no gradient): conv2d(x, w, b), rectified where `relu` (the
// conv2d_relu_forward kernel, whose ReLU costs no pass of its own). Evaluation's convolution -> batch norm
// runs as this with the batch norm folded into w and b (layers/batch_norm_fold.h).
Variable conv2d_inference(const Variable& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, bool relu,
                          ConvOutput output = ConvOutput::plain);
// Whether the backend of x computes this convolution on the channel-blocked layout (conv2d_runs_blocked),
// so that conv2d takes a blocked x and gives a blocked output, and COLLAPSE_BLOCKED_ACTIVATIONS allows it.
// x may itself be blocked (asked about its [N,C,H,W] shape).
bool conv2d_takes_blocked(const Tensor& x, const Tensor& w, const Conv2dParams& p);
// Batch norm over dim 1 of [N,C,H,W] or [N,C]. Training: batch statistics, running stats updated in
// place. Evaluation: running statistics, and gradients flow as through an affine map. x may be a blocked
// conv2d output (ConvOutput::blocked_when_faster; the output is then the plain [N,C,H,W]), except in
// evaluation with gradients (the affine map's backward is written for plain tensors).
Variable batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                    Tensor& running_var, bool training, double momentum, double eps);
// relu(batch_norm(...)) as one op (batch_norm_relu_* kernels): the same values and gradients, without the
// ReLU's own passes over memory. In training it saves no output: the backward recomputes the ReLU's mask.
Variable batch_norm_relu(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                         Tensor& running_var, bool training, double momentum, double eps);
// relu(batch_norm(x) + residual) as one op, the end of a residual block (residual: the shortcut, x's shape;
// undefined, it is batch_norm_relu). Its gradient is dy where the output is positive.
// With `blocked_output`, x must be channel-blocked and the output is too (for a convolution that reads it
// so: conv2d_takes_blocked).
Variable batch_norm_add_relu(const Variable& x, const Variable& residual, const Variable& gamma,
                             const Variable& beta, Tensor& running_mean, Tensor& running_var, bool training,
                             double momentum, double eps, bool blocked_output = false);
// Training-mode batch norm whose statistics are those of the global batch that several replicas share
// (synchronised batch norm, PyTorch's SyncBatchNorm): each replica passes its slice x, and `sum` adds the
// per-channel sums of the forward (2 calls) and of the backward (1 call) across replicas, so the values
// and gradients are those of batch_norm over the whole batch, up to summation order. With a `sum` that
// does nothing it is batch_norm in training mode.
Variable sync_batch_norm(const Variable& x, const Variable& gamma, const Variable& beta, Tensor& running_mean,
                         Tensor& running_var, double momentum, double eps, SumAcrossReplicas sum);
Variable relu(const Variable& x);
Variable max_pool2d(const Variable& x, const Pool2dParams& p);
Variable avg_pool2d(const Variable& x, const Pool2dParams& p);
Variable global_avg_pool(const Variable& x);  // [N,C,H,W] -> [N,C]
Variable linear(const Variable& x, const Variable& w, const Variable& b);  // x [N,K], w [M,K] -> [N,M]
Variable add(const Variable& a, const Variable& b);
Variable mul_scalar(const Variable& x, double alpha);
Variable concat_channels(const std::vector<Variable>& xs);
// concat_channels grown one input at a time in one preallocated buffer, as the memory-efficient DenseNet
// keeps a block's feature maps: append() copies an input once into the next free channels, and
// concatenation() returns every input so far as one Variable that views the buffer's first channels (no
// copy; differentiable as concat_channels of those inputs). Later appends leave earlier views' values as
// they are, so a concatenation stays valid while the buffer grows.
//
// In the graph each concatenation is the previous one (if any) followed by the inputs appended since, so
// that a gradient flows back along the chain: an input's gradient is one slice of the next concatenation's,
// and each concatenation's gradient is summed once, over all its channels, where its consumers meet. As a
// concatenation of all inputs at every step, a DenseNet block of L layers would sum each input's gradient
// from every later layer: ~L^2/2 small additions of one layer's few channels instead of L wide ones.
class GrowingConcat {
 public:
  // The buffer, [N, C_total, ...]; 4-D in the device's activation layout.
  GrowingConcat(const Shape& shape, DType dtype, Device device);
  void append(const Variable& x);
  // The same Variable again while nothing was appended since the last call.
  Variable concatenation();
  int64_t channels() const { return filled_; }

 private:
  Tensor buffer_;
  int64_t filled_ = 0;
  Variable previous_;               // the last concatenation returned (undefined before the first)
  std::vector<Variable> appended_;  // the inputs appended since
};
Variable flatten(const Variable& x);  // [N, d1, d2, ...] -> [N, d1*d2*...] in row-major (C,H,W) order
// Mean cross-entropy of logits [N,C] against int64 labels [N]; a one-element output.
Variable cross_entropy(const Variable& logits, const Tensor& labels);
// The training loss `spec` names (backends/classification_loss.h), mean over the batch; cross_entropy for
// LossKind::cross_entropy.
Variable classification_loss(const Variable& logits, const Tensor& labels, const LossSpec& spec);

}  // namespace collapse
