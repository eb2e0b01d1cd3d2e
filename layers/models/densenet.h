#pragma once
// DenseNet-BC (bottleneck 4k, compression 0.5, no dropout), named as torchvision's densenet*:
//   features.conv0 [, norm0, relu0, pool0], features.denseblock{i}.denselayer{j}.{norm1,conv1,norm2,conv2},
//   features.transition{i}.{norm,conv,pool}, features.norm5, classifier.
// Small images: depth 40/100/250 (3 blocks of (depth-4)/6 layers, k = 12, 3x3 stem conv to 2k channels).
// ImageNet (> 96 px): DenseNet 121/169/201 (k = 32, blocks 6-12-{24,32,48}-{16,32,32}, 7x7 stem to 64).
#include "layers/models/network.h"

namespace collapse {

// BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k) on the concatenation of every earlier feature map of the block.
class DenseLayer : public Module {
 public:
  DenseLayer(int64_t in, int64_t growth, int64_t bottleneck, Generator& gen);
  Variable forward(const Variable& x) override;  // returns only the k new channels
 private:
  std::shared_ptr<BatchNormReLU2d> norm1_, norm2_;
  std::shared_ptr<Conv2d> conv1_, conv2_;
};

class DenseBlock : public Module {
 public:
  DenseBlock(int64_t layers, int64_t in, int64_t growth, int64_t bottleneck, Generator& gen);
  Variable forward(const Variable& x) override;  // the input and all new features, concatenated
  int64_t out_channels() const { return out_channels_; }

 private:
  int64_t out_channels_;
};

class DenseNet : public Network {
 public:
  DenseNet(const ModelConfig& config, Generator& gen);
  Variable forward(const Variable& x) override;
  Linear& classifier() override { return *classifier_; }
  std::vector<std::pair<std::string, Module*>> stage_outputs() override;

 private:
  std::shared_ptr<Sequential> features_;
  std::shared_ptr<Linear> classifier_;
};

// The growth rate k a depth uses when ModelConfig::growth_rate is 0: 12 for DenseNet-BC (6n+4), 32 for
// the ImageNet DenseNets 121/169/201.
int64_t densenet_default_growth_rate(int depth);

}  // namespace collapse
