#pragma once
// SE-ResNet (Hu et al. 2018): ResNet whose residual blocks apply squeeze-and-excitation to the residual
// branch before the addition,  out = relu(SE(F(x)) + shortcut(x)).  Same stem, stages, strides and
// parameter names as ResNet (conv1, bn1, layer1.0.conv1, ..., fc) plus one `se` child per block
// (layer1.0.se.fc1.weight, ...). Built by handing ResNet a ResidualBlockFactory; registered as
// `resnet-se` (nc-experiment --arch resnet-se --depth 18|34|50|101|152) in resnet_se.cpp.
#include "layers/models/resnet.h"
#include "layers/squeeze_excitation.h"

namespace collapse {

// BasicBlock with SE after bn2 (expansion 1).
class SEBasicBlock : public Module {
 public:
  static constexpr int64_t kExpansion = BasicBlock::kExpansion;
  SEBasicBlock(int64_t in, int64_t planes, int64_t stride, Generator& gen,
               int64_t reduction = SqueezeExcitation::kDefaultReduction);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNormReLU2d> bn1_;
  std::shared_ptr<BatchNorm2d> bn2_;  // feeds the SE gate, not a ReLU
  std::shared_ptr<SqueezeExcitation> se_;
  std::shared_ptr<Sequential> downsample_;
};

// Bottleneck with SE after bn3, on planes * 4 channels.
class SEBottleneck : public Module {
 public:
  static constexpr int64_t kExpansion = Bottleneck::kExpansion;
  SEBottleneck(int64_t in, int64_t planes, int64_t stride, Generator& gen,
               int64_t reduction = SqueezeExcitation::kDefaultReduction);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_, conv3_;
  std::shared_ptr<BatchNormReLU2d> bn1_, bn2_;
  std::shared_ptr<BatchNorm2d> bn3_;  // feeds the SE gate, not a ReLU
  std::shared_ptr<SqueezeExcitation> se_;
  std::shared_ptr<Sequential> downsample_;
};

// A ResidualBlockFactory making SE blocks with reduction ratio r: pass it to ResNet.
ResidualBlockFactory se_residual_block(int64_t reduction = SqueezeExcitation::kDefaultReduction);

}  // namespace collapse
