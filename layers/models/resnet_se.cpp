#include "layers/models/resnet_se.h"

namespace collapse {

namespace {
Variable shortcut(const std::shared_ptr<Sequential>& downsample, const Variable& x) {
  return downsample ? (*downsample)(x) : x;
}
}  // namespace

SEBasicBlock::SEBasicBlock(int64_t in, int64_t planes, int64_t stride, Generator& gen, int64_t reduction)
    : Module("SEBasicBlock") {
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, planes, 3, stride, 1, false, gen));
  bn1_ = register_module("bn1", std::make_shared<BatchNormReLU2d>(planes));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, 1, 1, false, gen));
  bn2_ = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  se_ = register_module("se", std::make_shared<SqueezeExcitation>(planes * kExpansion, gen, reduction));
  if ((downsample_ = make_downsample(in, planes * kExpansion, stride, gen))) register_module("downsample", downsample_);
}

Variable SEBasicBlock::forward(const Variable& x) {
  Variable out = conv_bn_relu(*conv1_, *bn1_, x, Variable(), conv2_.get());
  out = (*se_)((*bn2_)((*conv2_)(out)));
  return relu(add(out, shortcut(downsample_, x)));
}

SEBottleneck::SEBottleneck(int64_t in, int64_t planes, int64_t stride, Generator& gen, int64_t reduction)
    : Module("SEBottleneck") {
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, planes, 1, 1, 0, false, gen));
  bn1_ = register_module("bn1", std::make_shared<BatchNormReLU2d>(planes));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, stride, 1, false, gen));
  bn2_ = register_module("bn2", std::make_shared<BatchNormReLU2d>(planes));
  conv3_ = register_module("conv3", std::make_shared<Conv2d>(planes, planes * kExpansion, 1, 1, 0, false, gen));
  bn3_ = register_module("bn3", std::make_shared<BatchNorm2d>(planes * kExpansion));
  se_ = register_module("se", std::make_shared<SqueezeExcitation>(planes * kExpansion, gen, reduction));
  if ((downsample_ = make_downsample(in, planes * kExpansion, stride, gen))) register_module("downsample", downsample_);
}

Variable SEBottleneck::forward(const Variable& x) {
  Variable out = conv_bn_relu(*conv1_, *bn1_, x, Variable(), conv2_.get());
  out = conv_bn_relu(*conv2_, *bn2_, out, Variable(), conv3_.get());
  out = (*se_)((*bn3_)((*conv3_)(out)));
  return relu(add(out, shortcut(downsample_, x)));
}

ResidualBlockFactory se_residual_block(int64_t reduction) {
  return [reduction](int64_t in, int64_t planes, int64_t stride, bool bottleneck, Generator& gen) -> ModulePtr {
    if (bottleneck) return std::make_shared<SEBottleneck>(in, planes, stride, gen, reduction);
    return std::make_shared<SEBasicBlock>(in, planes, stride, gen, reduction);
  };
}

// The one line that makes `nc-experiment --arch resnet-se` work.
COLLAPSE_REGISTER_MODEL(
    "resnet-se",
    [](const ModelConfig& c, Generator& g) -> NetworkPtr { return std::make_shared<ResNet>(c, g, se_residual_block()); },
    "SE-ResNet 18/34/50/101/152: ResNet with squeeze-and-excitation (r = 16) on each residual branch");

}  // namespace collapse
