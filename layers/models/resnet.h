#pragma once
// ResNet 18/34 (basic blocks) and 50/101/152 (bottlenecks), with torchvision's parameter names and
// layouts (conv1.weight, layer1.0.bn1.running_mean, layer2.0.downsample.0.weight, fc.weight, ...) so a
// checkpoint loads into a torchvision ResNet with the same stem.
// Stem: images up to 96 px get a 3x3 stride-1 conv and no max-pool (the notebook's CIFAR variant);
// larger ones torchvision's 7x7 stride-2 conv + 3x3 max-pool.
#include "layers/models/network.h"

namespace collapse {

// The shortcut's 1x1 conv + batch norm when shape changes, as torchvision's `downsample`.
std::shared_ptr<Sequential> make_downsample(int64_t in, int64_t out, int64_t stride, Generator& gen);

class BasicBlock : public Module {
 public:
  static constexpr int64_t kExpansion = 1;
  BasicBlock(int64_t in, int64_t planes, int64_t stride, Generator& gen);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_;
  std::shared_ptr<BatchNormReLU2d> bn1_, bn2_;  // bn2 ends the block: relu(bn2(.) + shortcut)
  std::shared_ptr<Sequential> downsample_;
};

class Bottleneck : public Module {
 public:
  static constexpr int64_t kExpansion = 4;
  Bottleneck(int64_t in, int64_t planes, int64_t stride, Generator& gen);
  Variable forward(const Variable& x) override;

 private:
  std::shared_ptr<Conv2d> conv1_, conv2_, conv3_;
  std::shared_ptr<BatchNormReLU2d> bn1_, bn2_, bn3_;  // bn3 ends the block
  std::shared_ptr<Sequential> downsample_;
};

// Builds one residual block: (in channels, planes, stride, bottleneck?) -> block. Variants of ResNet
// (say, with squeeze-and-excitation) pass their own; the default makes BasicBlock or Bottleneck.
using ResidualBlockFactory =
    std::function<ModulePtr(int64_t in, int64_t planes, int64_t stride, bool bottleneck, Generator& gen)>;
ModulePtr standard_residual_block(int64_t in, int64_t planes, int64_t stride, bool bottleneck, Generator& gen);

class ResNet : public Network {
 public:
  ResNet(const ModelConfig& config, Generator& gen, const ResidualBlockFactory& make_block = standard_residual_block);
  Variable forward(const Variable& x) override;
  Linear& classifier() override { return *fc_; }
  std::vector<std::pair<std::string, Module*>> stage_outputs() override;

 private:
  std::shared_ptr<Sequential> stem_, layers_[4];
  std::shared_ptr<Linear> fc_;
};

}  // namespace collapse
