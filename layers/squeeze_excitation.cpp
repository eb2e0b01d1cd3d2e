#include "layers/squeeze_excitation.h"

namespace collapse {

int64_t SqueezeExcitation::hidden_channels(int64_t channels, int64_t reduction) {
  COLLAPSE_CHECK(channels > 0 && reduction > 0, "SqueezeExcitation: channels (", channels, ") and reduction (",
                 reduction, ") must be positive");
  return channels / reduction < 1 ? 1 : channels / reduction;
}

SqueezeExcitation::SqueezeExcitation(int64_t channels, Generator& gen, int64_t reduction)
    : Module("SqueezeExcitation") {
  const int64_t hidden = hidden_channels(channels, reduction);
  fc1 = register_module("fc1", std::make_shared<Linear>(channels, hidden, gen));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, channels, gen));
}

Variable SqueezeExcitation::forward(const Variable& x) {
  COLLAPSE_CHECK(x.data().dim() == 4, "SqueezeExcitation: needs a 4-D input [N,C,H,W], got ", x.data().str());
  Variable s = global_avg_pool(x);  // squeeze: [N,C]
  s = relu((*fc1)(s));
  s = sigmoid((*fc2)(s));           // excitation: a gate in (0, 1) per example and channel
  return channel_scale(x, s);
}

}  // namespace collapse
