// nc-experiment's resolved defaults per dataset (experiments/support/protocol.h) against the written
// protocol (NEURAL_COLLAPSE.md §1–3): epochs and lr milestones (ImageNet 300 at 1/2 and 3/4, the others
// 350 at 1/3 and 2/3), batch, weight decay, TPT threshold, depths, growth rates and ImageNet's crop.
#include <gtest/gtest.h>

#include "core/error.h"
#include "experiments/support/protocol.h"

namespace collapse::experiment {
namespace {

ExperimentConfig resolved(const std::string& dataset, const std::string& arch) {
  ExperimentConfig c;
  c.dataset = dataset;
  c.arch = arch;
  resolve_defaults(c);
  return c;
}

TEST(ExperimentProtocol, ResolvedDefaultsPerDataset) {
  for (const char* dataset : {"mnist", "fashion-mnist", "kmnist", "svhn", "cifar10", "cifar100", "stl10"}) {
    const ExperimentConfig c = resolved(dataset, "resnet");
    EXPECT_EQ(c.epochs, 350) << dataset;
    EXPECT_EQ(c.lr_milestones, (std::vector<int>{116, 233})) << dataset;
    EXPECT_EQ(c.batch_size, 128) << dataset;
    EXPECT_DOUBLE_EQ(c.weight_decay, 5e-4) << dataset;
    EXPECT_DOUBLE_EQ(c.tpt_accuracy, 0.999) << dataset;
    EXPECT_DOUBLE_EQ(c.lr, 0.0679) << dataset;
    EXPECT_EQ(c.image_size, 0) << dataset;
    EXPECT_EQ(c.measure_epochs.front(), 0) << dataset;
    EXPECT_EQ(c.measure_epochs.back(), 350) << dataset;
  }
  const ExperimentConfig in = resolved("imagenet", "resnet");
  EXPECT_EQ(in.epochs, 300);
  EXPECT_EQ(in.lr_milestones, (std::vector<int>{150, 225}));
  EXPECT_EQ(in.batch_size, 256);
  EXPECT_DOUBLE_EQ(in.weight_decay, 1e-4);
  EXPECT_DOUBLE_EQ(in.tpt_accuracy, 0.996);
  EXPECT_EQ(in.image_size, 224);
  EXPECT_EQ(in.measure_epochs.back(), 300);
  EXPECT_EQ(in.per_class, 600);

  EXPECT_EQ(resolved("mnist", "resnet").per_class, 5000);
  EXPECT_EQ(resolved("svhn", "resnet").per_class, 4600);
  EXPECT_EQ(resolved("cifar10", "resnet").per_class, 0);  // every image
}

TEST(ExperimentProtocol, PaperDepthsAndGrowthRates) {
  EXPECT_EQ(resolved("cifar10", "vgg").depth, 13);
  EXPECT_EQ(resolved("cifar100", "resnet").depth, 50);
  EXPECT_EQ(resolved("imagenet", "vgg").depth, 19);
  EXPECT_EQ(resolved("imagenet", "resnet").depth, 152);
  const ExperimentConfig bc40 = resolved("mnist", "densenet");
  EXPECT_EQ(bc40.depth, 40);
  EXPECT_EQ(bc40.growth_rate, 12);  // DenseNet-BC-40, k = 12
  EXPECT_EQ(resolved("fashion-mnist", "densenet").depth, 250);
  EXPECT_EQ(resolved("fashion-mnist", "densenet").growth_rate, 12);  // Huang et al.'s BC-250 used 24
  EXPECT_EQ(resolved("imagenet", "densenet").growth_rate, 32);      // DenseNet201
  EXPECT_EQ(resolved("cifar10", "resnet").growth_rate, 0);          // not a DenseNet: not recorded

  ExperimentConfig k24;
  k24.dataset = "cifar100";
  k24.arch = "densenet";
  k24.growth_rate = 24;
  resolve_defaults(k24);
  EXPECT_EQ(k24.growth_rate, 24);
  EXPECT_EQ(to_json(k24)["growth_rate"], 24);

  ExperimentConfig wrong;
  wrong.arch = "resnet";
  wrong.growth_rate = 24;
  EXPECT_THROW(resolve_defaults(wrong), Error);
}

TEST(ExperimentProtocol, ImageNetResizeKeepsThePapersFieldOfView) {
  EXPECT_EQ(imagenet_resize_crop(224).resize_shorter, 256);
  EXPECT_EQ(imagenet_resize_crop(64).resize_shorter, 73);
  EXPECT_EQ(imagenet_resize_crop(32).resize_shorter, 37);
  EXPECT_EQ(imagenet_resize_crop(32).crop, 32);
}

}  // namespace
}  // namespace collapse::experiment
