#pragma once
// The built-in primitives: one Kernel slot per forward or backward pass, with its argument rules
// (backends/shapes.h, checked before any backend runs). Callers allocate outputs (4-D activations
// channels-last via Tensor::empty_activation); kernels fill them. Every slot has a ref implementation
// (backends/ref/) and a cpu one (backends/cpu/).
// Optional tensors (a bias, its gradient) are passed undefined (Tensor()); batch-norm gamma and beta are
// required. Max-pool workspaces are private to the backend that wrote them.
#include <cstdint>
#include <vector>

#include "backends/dispatch.h"
#include "backends/shapes.h"

namespace collapse {

// ---- convolution: x [N,Ci,H,W], w [Co,Ci,kh,kw] (row-major, "oihw"), b [Co] or undefined, y [N,Co,Ho,Wo]
using Conv2dForwardFn = void(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Tensor& y);
using Conv2dBackwardDataFn = void(const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx);
// Writes dw (and db when defined); does not accumulate.
using Conv2dBackwardWeightsFn = void(const Tensor& x, const Tensor& dy, const Conv2dParams& p, Tensor& dw, Tensor& db);
inline Kernel<Conv2dForwardFn> conv2d_forward{"conv2d_forward", &check_conv2d_forward};
// y = max(0, conv(x, w) + b): the ReLU applied to each output tile while it is in cache, not in a pass of
// its own. Forward only (no backward slot): evaluation's convolution -> batch norm -> ReLU with the batch
// norm folded into w and b (layers/batch_norm_fold.h). ref and cuda run conv2d_forward, then relu_forward
// (backends/conv2d_composed.h).
inline Kernel<Conv2dForwardFn> conv2d_relu_forward{"conv2d_relu_forward", &check_conv2d_forward};
inline Kernel<Conv2dBackwardDataFn> conv2d_backward_data{"conv2d_backward_data", &check_conv2d_backward_data};
inline Kernel<Conv2dBackwardWeightsFn> conv2d_backward_weights{"conv2d_backward_weights",
                                                              &check_conv2d_backward_weights};
// Both backward passes of one convolution, as autograd runs them: dx as conv2d_backward_data when dx is
// defined, dw (and db when defined) as conv2d_backward_weights when dw is defined. One slot, so that a
// backend can prepare dy once for both (the cpu backend's Winograd route reorders it into its blocked
// layout once instead of twice). ref and cuda run the two slots (backends/conv2d_composed.h).
using Conv2dBackwardFn = void(const Tensor& x, const Tensor& dy, const Tensor& w, const Conv2dParams& p, Tensor& dx,
                              Tensor& dw, Tensor& db);
inline Kernel<Conv2dBackwardFn> conv2d_backward{"conv2d_backward", &check_conv2d_backward};
// Whether the backend computes this convolution on the channel-blocked layout (core/blocked_layout.h; cpu:
// its Winograd route), so that x, y and dy given blocked are used as they are: autograd then saves x
// blocked for the backward pass (autograd/ops/conv2d.cpp), and a batch norm after it may read y blocked
// (ConvOutput::blocked_when_faster). Backends without an implementation: never (ref, cuda).
using Conv2dRunsBlockedFn = bool(const Tensor& x, const Tensor& w, const Conv2dParams& p);
inline Kernel<Conv2dRunsBlockedFn> conv2d_runs_blocked{"conv2d_runs_blocked", &check_conv2d_runs_blocked};
// blocked = x [N,C,H,W] (any layout, C a multiple of 16) in the channel-blocked layout. cpu only.
using BlockedCopyFn = void(const Tensor& x, Tensor& blocked);
inline Kernel<BlockedCopyFn> blocked_copy{"blocked_copy", &check_blocked_copy};

// ---- batch norm over [N,C,H,W] or [N,C]; statistics per channel. x (and with it dx) may be channel-blocked
// (cpu only: a Winograd convolution's output); y and dy never are.
// Training: normalises with the batch statistics, writes save_mean/save_var (biased batch variance, [C])
// and updates running_mean/running_var in place (momentum as PyTorch: r = (1-m) r + m batch, running var
// from the unbiased batch variance).
using BatchNormForwardTrainFn = void(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor& running_mean,
                                     Tensor& running_var, double momentum, double eps, Tensor& y, Tensor& save_mean,
                                     Tensor& save_var);
using BatchNormForwardEvalFn = void(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    const Tensor& running_mean, const Tensor& running_var, double eps, Tensor& y);
// Backward of the training-mode forward.
using BatchNormBackwardFn = void(const Tensor& dy, const Tensor& x, const Tensor& gamma, const Tensor& save_mean,
                                 const Tensor& save_var, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta);
inline Kernel<BatchNormForwardTrainFn> batch_norm_forward_train{"batch_norm_forward_train",
                                                               &check_batch_norm_forward_train};
inline Kernel<BatchNormForwardEvalFn> batch_norm_forward_eval{"batch_norm_forward_eval",
                                                             &check_batch_norm_forward_eval};
inline Kernel<BatchNormBackwardFn> batch_norm_backward{"batch_norm_backward", &check_batch_norm_backward};

// ---- batch norm, plus an optional residual, followed by ReLU, fused: y = max(0, batch_norm(x) + residual)
// with batch norm's arguments and statistics; `residual` (x's shape) may be undefined (no addition). Every BN
// of our models feeds a ReLU, in residual blocks after the shortcut's addition: fusing saves the ReLU's and
// the addition's passes over memory.
// Backward masks dy where the output y <= 0 (ReLU's derivative at 0 taken as 0, as relu_backward): that
// masked dy is the residual's gradient, written to dresidual when it is defined, and the batch-norm
// backward runs on it; dgamma / dbeta may be undefined (not computed). y may be undefined when the forward
// added no residual: the mask then comes from max(0, batch_norm(x)) recomputed with gamma, beta and the
// saved statistics (the cpu kernel recomputes exactly its forward's values and reads one tensor less).
using BatchNormReluForwardTrainFn = void(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                         const Tensor& beta, Tensor& running_mean, Tensor& running_var,
                                         double momentum, double eps, Tensor& y, Tensor& save_mean, Tensor& save_var);
using BatchNormReluForwardEvalFn = void(const Tensor& x, const Tensor& residual, const Tensor& gamma,
                                        const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                        double eps, Tensor& y);
using BatchNormReluBackwardFn = void(const Tensor& dy, const Tensor& y, const Tensor& x, const Tensor& gamma,
                                     const Tensor& beta, const Tensor& save_mean, const Tensor& save_var,
                                     double eps, Tensor& dx, Tensor& dresidual, Tensor& dgamma, Tensor& dbeta);
inline Kernel<BatchNormReluForwardTrainFn> batch_norm_relu_forward_train{"batch_norm_relu_forward_train",
                                                                        &check_batch_norm_relu_forward_train};
inline Kernel<BatchNormReluForwardEvalFn> batch_norm_relu_forward_eval{"batch_norm_relu_forward_eval",
                                                                      &check_batch_norm_relu_forward_eval};
inline Kernel<BatchNormReluBackwardFn> batch_norm_relu_backward{"batch_norm_relu_backward",
                                                               &check_batch_norm_relu_backward};

// ---- pooling. The workspace is whatever the backend needs to route max-pool gradients (argmax indices
// for ref, oneDNN's opaque workspace for cpu); forward allocates it when `workspace` is undefined.
using MaxPool2dForwardFn = void(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& workspace);
using MaxPool2dBackwardFn = void(const Tensor& dy, const Tensor& workspace, const Pool2dParams& p, Tensor& dx);
// Average pooling counts padded positions (PyTorch's count_include_pad=True).
using AvgPool2dForwardFn = void(const Tensor& x, const Pool2dParams& p, Tensor& y);
using AvgPool2dBackwardFn = void(const Tensor& dy, const Pool2dParams& p, Tensor& dx);
inline Kernel<MaxPool2dForwardFn> max_pool2d_forward{"max_pool2d_forward", &check_max_pool2d_forward};
inline Kernel<MaxPool2dBackwardFn> max_pool2d_backward{"max_pool2d_backward", &check_max_pool2d_backward};
inline Kernel<AvgPool2dForwardFn> avg_pool2d_forward{"avg_pool2d_forward", &check_avg_pool2d_forward};
inline Kernel<AvgPool2dBackwardFn> avg_pool2d_backward{"avg_pool2d_backward", &check_avg_pool2d_backward};

// ---- global average pool: x [N,C,H,W] -> y [N,C]
using GlobalAvgPoolForwardFn = void(const Tensor& x, Tensor& y);
using GlobalAvgPoolBackwardFn = void(const Tensor& dy, Tensor& dx);
inline Kernel<GlobalAvgPoolForwardFn> global_avg_pool_forward{"global_avg_pool_forward",
                                                             &check_global_avg_pool_forward};
inline Kernel<GlobalAvgPoolBackwardFn> global_avg_pool_backward{"global_avg_pool_backward",
                                                               &check_global_avg_pool_backward};

// ---- linear: x [N,K], w [M,K], b [M] or undefined, y [N,M] = x wᵀ + b
using LinearForwardFn = void(const Tensor& x, const Tensor& w, const Tensor& b, Tensor& y);
using LinearBackwardDataFn = void(const Tensor& dy, const Tensor& w, Tensor& dx);
using LinearBackwardWeightsFn = void(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& db);
inline Kernel<LinearForwardFn> linear_forward{"linear_forward", &check_linear_forward};
inline Kernel<LinearBackwardDataFn> linear_backward_data{"linear_backward_data", &check_linear_backward_data};
inline Kernel<LinearBackwardWeightsFn> linear_backward_weights{"linear_backward_weights",
                                                              &check_linear_backward_weights};

// ---- ReLU; backward uses the forward's output (y > 0), so dy passes where the input was positive.
using ReluForwardFn = void(const Tensor& x, Tensor& y);
using ReluBackwardFn = void(const Tensor& dy, const Tensor& y, Tensor& dx);
inline Kernel<ReluForwardFn> relu_forward{"relu_forward", &check_relu_forward};
inline Kernel<ReluBackwardFn> relu_backward{"relu_backward", &check_relu_backward};

// ---- elementwise: y = a + b (same shape); acc += alpha * x (gradient accumulation); y = alpha * x
using AddFn = void(const Tensor& a, const Tensor& b, Tensor& y);
using AxpyFn = void(double alpha, const Tensor& x, Tensor& acc);
using ScaleFn = void(double alpha, const Tensor& x, Tensor& y);
inline Kernel<AddFn> add_forward{"add_forward", &check_add_forward};
inline Kernel<AxpyFn> axpy{"axpy", &check_axpy};
inline Kernel<ScaleFn> scale{"scale", &check_scale};

// ---- concatenation along channels (dim 1) of 4-D or 2-D tensors; backward is a slice copy (Tensor::copy_).
using ConcatForwardFn = void(const std::vector<Tensor>& xs, Tensor& y);
inline Kernel<ConcatForwardFn> concat_channels_forward{"concat_channels_forward", &check_concat_channels_forward};

// ---- fused log-softmax + cross-entropy, mean over the batch: logits [N,C], labels int64 [N].
// Forward writes loss [1] and the softmax probabilities [N,C] (saved for backward).
using CrossEntropyForwardFn = void(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& probs);
// dlogits = dloss * (probs - onehot(labels)) / N
using CrossEntropyBackwardFn = void(const Tensor& probs, const Tensor& labels, double dloss, Tensor& dlogits);
inline Kernel<CrossEntropyForwardFn> cross_entropy_forward{"cross_entropy_forward", &check_cross_entropy_forward};
inline Kernel<CrossEntropyBackwardFn> cross_entropy_backward{"cross_entropy_backward", &check_cross_entropy_backward};

// ---- SGD with momentum, PyTorch semantics, over all parameters at once (SgdParams in backends/shapes.h):
//   g = grad + weight_decay * p;  v = momentum * v + g (buffers start at zero, so v = g on the first step,
//   as torch.optim.SGD initialises them);
//   p -= lr * (nesterov ? g + momentum * v : v)
using SgdUpdateFn = void(std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                         std::vector<Tensor>& momentum_buffers, const SgdParams& p);
inline Kernel<SgdUpdateFn> sgd_update{"sgd_update", &check_sgd_update};

}  // namespace collapse
