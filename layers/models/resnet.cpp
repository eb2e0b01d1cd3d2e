#include "layers/models/resnet.h"

namespace collapse {

std::shared_ptr<Sequential> make_downsample(int64_t in, int64_t out, int64_t stride, Generator& gen) {
  if (stride == 1 && in == out) return nullptr;
  return std::make_shared<Sequential>(
      std::initializer_list<ModulePtr>{std::make_shared<Conv2d>(in, out, 1, stride, 0, false, gen),
                                       std::make_shared<BatchNorm2d>(out)});
}

namespace {
Variable shortcut(const std::shared_ptr<Sequential>& downsample, const Variable& x) {
  return downsample ? (*downsample)(x) : x;
}
}  // namespace

BasicBlock::BasicBlock(int64_t in, int64_t planes, int64_t stride, Generator& gen) : Module("BasicBlock") {
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, planes, 3, stride, 1, false, gen));
  bn1_ = register_module("bn1", std::make_shared<BatchNormReLU2d>(planes));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, 1, 1, false, gen));
  bn2_ = register_module("bn2", std::make_shared<BatchNormReLU2d>(planes));
  if ((downsample_ = make_downsample(in, planes * kExpansion, stride, gen))) register_module("downsample", downsample_);
}

Variable BasicBlock::forward(const Variable& x) {
  Variable out = conv_bn_relu(*conv1_, *bn1_, x, Variable(), conv2_.get());
  return conv_bn_relu(*conv2_, *bn2_, out, shortcut(downsample_, x));
}

Bottleneck::Bottleneck(int64_t in, int64_t planes, int64_t stride, Generator& gen) : Module("Bottleneck") {
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, planes, 1, 1, 0, false, gen));
  bn1_ = register_module("bn1", std::make_shared<BatchNormReLU2d>(planes));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, stride, 1, false, gen));
  bn2_ = register_module("bn2", std::make_shared<BatchNormReLU2d>(planes));
  conv3_ = register_module("conv3", std::make_shared<Conv2d>(planes, planes * kExpansion, 1, 1, 0, false, gen));
  bn3_ = register_module("bn3", std::make_shared<BatchNormReLU2d>(planes * kExpansion));
  if ((downsample_ = make_downsample(in, planes * kExpansion, stride, gen))) register_module("downsample", downsample_);
}

Variable Bottleneck::forward(const Variable& x) {
  Variable out = conv_bn_relu(*conv1_, *bn1_, x, Variable(), conv2_.get());
  out = conv_bn_relu(*conv2_, *bn2_, out, Variable(), conv3_.get());
  return conv_bn_relu(*conv3_, *bn3_, out, shortcut(downsample_, x));
}

namespace {
struct ResNetLayout {
  bool bottleneck;
  int blocks[4];
};
ResNetLayout resnet_layout(int depth) {
  switch (depth) {
    case 18: return {false, {2, 2, 2, 2}};
    case 34: return {false, {3, 4, 6, 3}};
    case 50: return {true, {3, 4, 6, 3}};
    case 101: return {true, {3, 4, 23, 3}};
    case 152: return {true, {3, 8, 36, 3}};
  }
  COLLAPSE_FAIL("resnet: depth ", depth, " is not one of 18, 34, 50, 101, 152");
}
}  // namespace

ModulePtr standard_residual_block(int64_t in, int64_t planes, int64_t stride, bool bottleneck, Generator& gen) {
  if (bottleneck) return std::make_shared<Bottleneck>(in, planes, stride, gen);
  return std::make_shared<BasicBlock>(in, planes, stride, gen);
}

ResNet::ResNet(const ModelConfig& cfg, Generator& gen, const ResidualBlockFactory& make_block) : Network("ResNet") {
  const ResNetLayout layout = resnet_layout(cfg.depth);
  const bool imagenet_stem = cfg.image_size > 96;
  int64_t channels = scaled_channels(64, cfg.width);
  // The stem's modules are registered on the ResNet itself (conv1, bn1, maxpool) to keep torchvision's
  // names; stem_ only sequences them (bn1 is a BatchNormReLU: the ReLU after it costs nothing).
  stem_ = std::make_shared<Sequential>();
  stem_->add(register_module("conv1", imagenet_stem
                                          ? std::make_shared<Conv2d>(cfg.in_channels, channels, 7, 2, 3, false, gen)
                                          : std::make_shared<Conv2d>(cfg.in_channels, channels, 3, 1, 1, false, gen)));
  stem_->add(register_module("bn1", std::make_shared<BatchNormReLU2d>(channels)));
  stem_->add(std::make_shared<ReLU>());
  if (imagenet_stem) stem_->add(register_module("maxpool", std::make_shared<MaxPool2d>(3, 2, 1)));

  const int64_t expansion = layout.bottleneck ? Bottleneck::kExpansion : BasicBlock::kExpansion;
  for (int stage = 0; stage < 4; ++stage) {
    const int64_t planes = scaled_channels(64 << stage, cfg.width);
    auto layer = std::make_shared<Sequential>();
    for (int b = 0; b < layout.blocks[stage]; ++b) {
      const int64_t stride = (stage > 0 && b == 0) ? 2 : 1;
      layer->add(make_block(channels, planes, stride, layout.bottleneck, gen));
      channels = planes * expansion;
    }
    layers_[stage] = register_module("layer" + std::to_string(stage + 1), layer);
  }
  fc_ = register_module("fc", std::make_shared<Linear>(channels, cfg.num_classes, gen));
}

Variable ResNet::forward(const Variable& x) {
  Variable h = (*stem_)(x);
  for (auto& layer : layers_) h = (*layer)(h);
  return (*fc_)(global_avg_pool(h));
}

std::vector<std::pair<std::string, Module*>> ResNet::stage_outputs() {
  std::vector<std::pair<std::string, Module*>> out;
  for (int i = 0; i < 4; ++i)
    for (auto& [name, block] : layers_[i]->children())
      out.emplace_back("layer" + std::to_string(i + 1) + "." + name, block.get());
  return out;
}

COLLAPSE_REGISTER_MODEL(
    "resnet", [](const ModelConfig& c, Generator& g) -> NetworkPtr { return std::make_shared<ResNet>(c, g); },
    "ResNet 18/34/50/101/152 (small-image stem up to 96 px, ImageNet stem above)");

}  // namespace collapse
