// The op profiler (core/profiler.h): every kernel call of a step is charged to its op and to the layer
// that ran it, forward and backward, and nothing is recorded while it is off.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "autograd/functional.h"
#include "core/init.h"
#include "core/profiler.h"
#include "layers/models/network.h"

using namespace collapse;

namespace {
// Runs one training step of a small ResNet18 with the profiler on and returns its snapshot.
profile::Snapshot profiled_step(Network& model) {
  Generator gen(3);
  Tensor images = Tensor::empty_activation({4, 3, 16, 16});
  normal_(images, 0.0, 1.0, gen);
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 1}, {4});
  profile::reset();
  profile::enable(true);
  cross_entropy(model(Variable(images)), labels).backward();
  profile::enable(false);
  return profile::snapshot();
}

std::map<std::string, profile::Row> by_name(const std::vector<profile::Row>& rows) {
  std::map<std::string, profile::Row> m;
  for (const auto& r : rows) m[r.name] = r;
  return m;
}

NetworkPtr small_resnet() {
  Generator gen(0);
  return build_model(ModelConfig{"resnet", 18, 0.125, 3, 16, 3}, gen);
}
}  // namespace

TEST(Profiler, ChargesEveryKernelToItsOpAndLayer) {
  NetworkPtr model = small_resnet();
  const profile::Snapshot s = profiled_step(*model);
  const auto ops = by_name(s.by_op);
  // ResNet18: 20 convolutions (17 3x3 incl. the stem, 3 downsampling 1x1), one classifier, one loss.
  ASSERT_TRUE(ops.count("conv2d_forward"));
  EXPECT_EQ(ops.at("conv2d_forward").calls, 20);
  EXPECT_EQ(ops.at("conv2d_backward").calls, 20);  // both backward passes in one call
  EXPECT_EQ(ops.at("linear_forward").calls, 1);
  EXPECT_EQ(ops.at("cross_entropy_forward").calls, 1);
  EXPECT_EQ(ops.at("cross_entropy_backward").calls, 1);

  double op_ms = 0.0, layer_ms = 0.0;
  for (const auto& r : s.by_op) op_ms += r.ms;
  for (const auto& r : s.by_layer) layer_ms += r.ms;
  EXPECT_NEAR(op_ms, s.kernel_ms, 1e-9 * s.kernel_ms + 1e-12);
  EXPECT_NEAR(layer_ms, s.kernel_ms, 1e-9 * s.kernel_ms + 1e-12);

  // Every layer row names a real module (forward) or one marked "(backward)".
  const auto layers = by_name(s.by_layer);
  const std::string suffix = " (backward)";
  for (const auto& [name, row] : layers) {
    std::string path = name;
    if (path.size() > suffix.size() && path.ends_with(suffix)) path.resize(path.size() - suffix.size());
    if (path == "(outside layers)") continue;
    EXPECT_NE(model->find_module(path), nullptr) << "profile row '" << name << "' names no module";
  }
  ASSERT_TRUE(layers.count("layer1.0.conv1"));
  EXPECT_EQ(layers.at("layer1.0.conv1").calls, 1);  // one forward convolution
  ASSERT_TRUE(layers.count("layer1.0.conv1 (backward)"));
  EXPECT_EQ(layers.at("layer1.0.conv1 (backward)").calls, 1);  // backward data + weights, one call
  ASSERT_TRUE(layers.count("fc"));
  ASSERT_TRUE(layers.count("layer2.0.downsample.0"));
}

TEST(Profiler, RecordsNothingWhileOff) {
  NetworkPtr model = small_resnet();
  profiled_step(*model);
  profile::reset();
  Generator gen(1);
  Tensor images = Tensor::empty_activation({2, 3, 16, 16});
  normal_(images, 0.0, 1.0, gen);
  cross_entropy((*model)(Variable(images)), Tensor::from_vector(std::vector<int64_t>{0, 1}, {2})).backward();
  const profile::Snapshot s = profile::snapshot();
  EXPECT_TRUE(s.by_op.empty());
  EXPECT_EQ(s.kernel_ms, 0.0);
}
