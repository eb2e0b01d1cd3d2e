#pragma once
// VGG with batch norm (configurations 11/13/16/19 = A/B/D/E), named as torchvision's vgg*_bn:
//   features.{i}   Conv2d(3x3, pad 1, bias) / BatchNorm2d / ReLU / MaxPool2d(2), indices as torchvision;
//   classifier.{0..6}  Linear(512·s², h), ReLU, BatchNorm1d(h), Linear(h, h), ReLU, BatchNorm1d(h), Linear(h, C)
// The head replaces VGG's dropout with batch norm, as the paper did (NEURAL_COLLAPSE.md §2); s is the
// spatial size after the last pool (1 at 32x32, 3 at 96x96, 7 at 224x224); h = 4096 at width 1.
#include "layers/models/network.h"

namespace collapse {

class VGG : public Network {
 public:
  VGG(const ModelConfig& config, Generator& gen);
  Variable forward(const Variable& x) override;
  Linear& classifier() override { return *classifier_; }
  std::vector<std::pair<std::string, Module*>> stage_outputs() override;

 private:
  std::shared_ptr<Sequential> features_, head_;
  std::shared_ptr<Linear> classifier_;
};

}  // namespace collapse
