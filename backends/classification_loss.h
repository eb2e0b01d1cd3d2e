#pragma once
// The training losses of a classifier's logits z [N,C] against integer labels y, each a mean over the batch
// (with p = softmax(z), e_y the one-hot vector of y):
//   cross_entropy    −log p_y                                  the paper's (this slot computes it too; the
//                                                              trainer uses the fused cross_entropy op)
//   label_smoothing  −Σ_c q_c log p_c, q = (1 − α)·e_y + α/C   Szegedy et al. (2016); NC: Zhou et al. (2022)
//   focal            −(1 − p_y)^γ log p_y                      Lin et al. (2017); NC: Zhou et al. (2022)
//   mse              ½‖z − κ·e_y‖²                             Han, Papyan & Donoho (ICLR 2022), κ = 1 their
//                                                              one-hot target; κ > 1 the rescaled targets of
//                                                              Hui & Belkin (2021)
// The loss of a few hundred logits is negligible next to the network, so one implementation in plain loops
// (backends/ref/classification_loss.cpp, double arithmetic inside) serves the ref and cpu backends; there is
// no CUDA one yet (the cross-entropy of the paper has its own kernels on every backend).
#include <string>

#include "backends/dispatch.h"

namespace collapse {

enum class LossKind { cross_entropy, label_smoothing, focal, mse };

struct LossSpec {
  LossKind kind = LossKind::cross_entropy;
  double smoothing = 0.1;  // α, label_smoothing
  double gamma = 2.0;      // γ, focal
  double target = 1.0;     // κ, mse
};

const char* loss_name(LossKind kind);  // "ce", "label-smoothing", "focal", "mse"
// The kind named `name` (as loss_name gives it); the error lists the names.
LossKind loss_kind(const std::string& name);
// The spec's parameters are in range: 0 ≤ α < 1, γ ≥ 0, κ > 0 (errors name the flag to change).
void check_loss_spec(const LossSpec& spec);

// Forward writes loss [1] and `saved` [N,C], what the backward needs: p for the softmax losses, z − κ·e_y for mse.
using ClassificationLossForwardFn = void(const Tensor& logits, const Tensor& labels, const LossSpec& spec,
                                         Tensor& loss, Tensor& saved);
// dlogits = dloss · ∂loss/∂z.
using ClassificationLossBackwardFn = void(const Tensor& saved, const Tensor& labels, const LossSpec& spec,
                                          double dloss, Tensor& dlogits);
// The argument rules, for every backend (backends/classification_loss.cpp).
ClassificationLossForwardFn check_classification_loss_forward;
ClassificationLossBackwardFn check_classification_loss_backward;
inline Kernel<ClassificationLossForwardFn> classification_loss_forward{"classification_loss_forward",
                                                                       &check_classification_loss_forward};
inline Kernel<ClassificationLossBackwardFn> classification_loss_backward{"classification_loss_backward",
                                                                         &check_classification_loss_backward};

}  // namespace collapse
