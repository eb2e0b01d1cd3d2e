#pragma once
// Evaluation's convolution -> batch norm as one convolution. With its running statistics a batch norm is
// an affine map per channel, so it folds into the convolution before it:
//   w'[c] = w[c]·s[c],  b'[c] = β[c] + (b[c] − μ[c])·s[c],  s[c] = γ[c] / √(σ²[c] + ε)
// (b: the convolution's bias, 0 without one). The batch norm's pass over the activations disappears, and
// with a ReLU after it (conv2d_relu_forward) the ReLU's too: in a ResNet18 evaluation at width 1/4 those
// passes were ~18% of the time. The folded convolution rounds differently from the two steps (float32, a
// few ulps of the output); the fold itself is computed in double.
#include <memory>
#include <vector>

#include "core/env_switch.h"
#include "core/tensor.h"

namespace collapse {

// Whether evaluation folds batch norms into convolutions: on unless COLLAPSE_FOLD_BATCH_NORM=0 (read once),
// which gives the two steps' rounding (that of earlier versions). For run configs: "on" or "off (...)".
bool batch_norm_folding_enabled();
const char* batch_norm_folding_status();
// Tests compare the two settings in one process.
class BatchNormFoldingGuard {
 public:
  explicit BatchNormFoldingGuard(bool enabled);

 private:
  EnvSwitch::Guard guard_;
};

struct FoldedConv {
  Tensor weight, bias;  // in the convolution's dtype and on its device
};

// The fold above. w [Co, ...], every other tensor [Co]; conv_bias may be undefined.
FoldedConv fold_batch_norm(const Tensor& w, const Tensor& conv_bias, const Tensor& gamma, const Tensor& beta,
                           const Tensor& running_mean, const Tensor& running_var, double eps);

// The fold of one convolution -> batch norm pair, remade only when a tensor it comes from changed: each
// must be the same storage (a replaced parameter is a new one) at the same version (every in-place write
// through the framework bumps it: optimizer steps, running-statistics updates, copy_ from a checkpoint),
// and eps the same. An evaluation pass thus folds once, not once per batch.
class BatchNormFold {
 public:
  const FoldedConv& get(const Tensor& w, const Tensor& conv_bias, const Tensor& gamma, const Tensor& beta,
                        const Tensor& running_mean, const Tensor& running_var, double eps);

 private:
  struct Source {
    bool defined;
    std::weak_ptr<Storage> storage;  // expired once the tensor is freed, even if its address is reused
    int64_t offset;
    uint64_t version;
  };
  static std::vector<Source> sources_of(const std::vector<const Tensor*>& tensors);
  static bool same(const std::vector<Source>& a, const std::vector<Source>& b);

  std::vector<Source> sources_;
  double eps_ = 0;
  FoldedConv folded_;
};

}  // namespace collapse
