#include "layers/models/vgg.h"

namespace collapse {
namespace {
constexpr int kPool = 0;  // 'M' in torchvision's configuration lists

std::vector<int> vgg_layers(int depth) {
  switch (depth) {
    case 11: return {64, kPool, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512, kPool};
    case 13: return {64, 64, kPool, 128, 128, kPool, 256, 256, kPool, 512, 512, kPool, 512, 512, kPool};
    case 16:
      return {64, 64, kPool, 128, 128, kPool, 256, 256, 256, kPool, 512, 512, 512, kPool, 512, 512, 512, kPool};
    case 19:
      return {64,  64,  kPool, 128, 128, kPool, 256, 256, 256, 256, kPool,
              512, 512, 512,   512, kPool, 512, 512, 512, 512, kPool};
  }
  COLLAPSE_FAIL("vgg: depth ", depth, " is not one of 11, 13, 16, 19");
}
}  // namespace

VGG::VGG(const ModelConfig& cfg, Generator& gen) : Network("VGG") {
  features_ = register_module("features", std::make_shared<Sequential>());
  int64_t channels = cfg.in_channels, spatial = cfg.image_size;
  for (int v : vgg_layers(cfg.depth)) {
    if (v == kPool) {
      COLLAPSE_CHECK(spatial >= 2, "vgg", cfg.depth, ": input ", cfg.image_size, "x", cfg.image_size,
                     " is too small for five 2x2 pools (needs at least 32)");
      features_->add(std::make_shared<MaxPool2d>(2, 2));
      spatial /= 2;
      continue;
    }
    const int64_t out = scaled_channels(v, cfg.width);
    features_->add(std::make_shared<Conv2d>(channels, out, 3, 1, 1, true, gen));
    // BatchNorm + ReLU fused in the BatchNormReLU; the ReLU stays an entry of its own (free: Sequential
    // calls it on_rectified), which keeps torchvision's indices (features.0, .1, .4, ...) and the ReLU hooks
    // of stage_outputs().
    features_->add(std::make_shared<BatchNormReLU2d>(out));
    features_->add(std::make_shared<ReLU>());
    channels = out;
  }
  const int64_t hidden = scaled_channels(4096, cfg.width);
  head_ = register_module("classifier", std::make_shared<Sequential>());
  head_->add(std::make_shared<Linear>(channels * spatial * spatial, hidden, gen));
  head_->add(std::make_shared<ReLU>());
  head_->add(std::make_shared<BatchNorm1d>(hidden));
  head_->add(std::make_shared<Linear>(hidden, hidden, gen));
  head_->add(std::make_shared<ReLU>());
  head_->add(std::make_shared<BatchNorm1d>(hidden));
  classifier_ = std::make_shared<Linear>(hidden, cfg.num_classes, gen);
  head_->add(classifier_);
}

Variable VGG::forward(const Variable& x) { return (*head_)(flatten((*features_)(x))); }

std::vector<std::pair<std::string, Module*>> VGG::stage_outputs() {
  // Every ReLU: the output of each conv block and of the two hidden head layers.
  std::vector<std::pair<std::string, Module*>> out;
  for (auto& [name, m] : named_modules())
    if (m->type_name() == "ReLU") out.emplace_back(name, m);
  return out;
}

COLLAPSE_REGISTER_MODEL(
    "vgg", [](const ModelConfig& c, Generator& g) -> NetworkPtr { return std::make_shared<VGG>(c, g); },
    "VGG-BN 11/13/16/19, batch-norm head as in the paper");

}  // namespace collapse
