#pragma once
// Squeeze-and-Excitation (Hu, Shen & Sun, CVPR 2018), a composite layer built from differentiable ops:
//   s = sigmoid(fc2(relu(fc1(global_avg_pool(x)))))     "squeeze" [N,C] -> [N,C/r] -> "excite" [N,C]
//   y = x * s  channel by channel                        (channel_scale)
// x [N,C,H,W] -> y [N,C,H,W]. Parameters: fc1.weight [C/r, C], fc1.bias [C/r], fc2.weight [C, C/r],
// fc2.bias [C]; the hidden width C/r is at least 1 (narrow networks, --width 0.125, have C < r).
#include <memory>

#include "autograd/ops/channel_scale.h"
#include "autograd/ops/sigmoid.h"
#include "layers/layers.h"

namespace collapse {

class SqueezeExcitation : public Module {
 public:
  static constexpr int64_t kDefaultReduction = 16;  // the paper's r
  SqueezeExcitation(int64_t channels, Generator& gen, int64_t reduction = kDefaultReduction);
  Variable forward(const Variable& x) override;

  // max(1, channels / reduction)
  static int64_t hidden_channels(int64_t channels, int64_t reduction);

  std::shared_ptr<Linear> fc1, fc2;
};

}  // namespace collapse
