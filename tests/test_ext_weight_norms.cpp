// The weight_norms measurement, the worked example of a new analysis measurement (docs/extending.md §4):
// registered and off by default, norms by hand, null gradients before any step, and the gradients the
// trainer leaves attached after an epoch (what nc-experiment sees at a measured epoch).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "layers/models/network.h"
#include "nc/measurements.h"
#include "nc/weight_norms.h"
#include "train/trainer.h"
#include "tests/testing/gradcheck.h"
#include "tests/testing/memory_dataset.h"
#include "tests/testing/perceptron_net.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

// Eight 1x2x2 images of two classes (class = sign of the first pixel), enough for a few SGD steps.
std::shared_ptr<MemoryDataset> tiny_dataset() {
  return memory_dataset(8, {1, 2, 2}, 2, [](int64_t i) { return i % 2; }, [](int64_t i, int64_t y, int64_t x, int64_t) {
    const int64_t k = 2 * y + x;  // the value's index in the HWC image
    return static_cast<float>((i % 2 ? 1.0 : -1.0) * static_cast<double>(1 + k) + 0.1 * static_cast<double>(i));
  });
}


}  // namespace

TEST(WeightNorms, RegisteredOffByDefault) {
  const nc::MeasurementInfo& m = nc::find_measurement("weight_norms");
  EXPECT_FALSE(m.default_on);
  EXPECT_FALSE(m.description.empty());
}

TEST(WeightNorms, NormsByHand) {
  Generator gen(41);
  Sequential net{std::make_shared<Linear>(2, 2, gen), std::make_shared<Linear>(2, 2, gen)};
  Linear& first = static_cast<Linear&>(net.at(0));
  first.weight.data().copy_(tensor_from_values({3, 4, 0, 0}, {2, 2}, DType::f32));  // ‖W‖ = 5
  first.bias.data().copy_(tensor_from_values({12, 0}, {2}, DType::f32));            // ‖b‖ = 12
  // y = x Wᵀ + b with x = [1, 2] and dL/dy = [1, 0]: dW = [[1, 2], [0, 0]], db = [1, 0].
  first(Variable(tensor_from_values({1, 2}, {1, 2}, DType::f32))).backward(tensor_from_values({1, 0}, {1, 2}, DType::f32));

  const nlohmann::json j = nc::weight_norms(net);
  ASSERT_EQ(j["parameters"].size(), 4u);
  EXPECT_EQ(j["parameters"][0]["name"], "0.weight");
  EXPECT_EQ(j["parameters"][0]["shape"], nlohmann::json::array({2, 2}));
  EXPECT_DOUBLE_EQ(j["parameters"][0]["weight_norm"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(j["parameters"][0]["grad_norm"].get<double>(), std::sqrt(5.0));
  EXPECT_DOUBLE_EQ(j["parameters"][1]["grad_norm"].get<double>(), 1.0);
  EXPECT_TRUE(j["parameters"][2]["grad_norm"].is_null());  // the second layer took no part: no gradient

  ASSERT_EQ(j["modules"].size(), 2u);
  EXPECT_EQ(j["modules"][0]["name"], "0");
  EXPECT_DOUBLE_EQ(j["modules"][0]["weight_norm"].get<double>(), 13.0);  // √(25 + 144)
  EXPECT_DOUBLE_EQ(j["modules"][0]["grad_norm"].get<double>(), std::sqrt(6.0));
  EXPECT_TRUE(j["modules"][1]["grad_norm"].is_null());

  double second_sq = 0;
  for (const Variable& p : net.at(1).parameters())
    for (double v : p.data().to_double_vector()) second_sq += v * v;
  EXPECT_NEAR(j["total"]["weight_norm"].get<double>(), std::sqrt(169.0 + second_sq), 1e-5);
  EXPECT_DOUBLE_EQ(j["total"]["grad_norm"].get<double>(), std::sqrt(6.0));
  EXPECT_EQ(j["total"]["parameters_with_grad"], 2);
  EXPECT_TRUE(j["gradient"].is_string());
}

TEST(WeightNorms, AfterAnEpochTheLastStepsGradientsAreStillAttached) {
  Generator gen(42);
  PerceptronNet net(4, 3, 2, gen);
  auto data = tiny_dataset();
  DataLoader eval(data, LoaderOptions::evaluation(8));
  nc::CollapseMetrics metrics;
  nc::MeasurementContext ctx{net, eval, nullptr, Device::cpu(), 0, 0, metrics};
  const auto& measure = nc::find_measurement("weight_norms").fn;

  // Epoch 0: no step yet, so no gradient.
  const nlohmann::json before = measure(ctx);
  EXPECT_TRUE(before["total"]["grad_norm"].is_null());
  EXPECT_EQ(before["total"]["parameters_with_grad"], 0);

  SGD sgd(net.parameters(), {0.1, 0.9, 5e-4, false});
  TrainerOptions options;
  options.epochs = 1;
  options.quiet = true;
  Trainer trainer(net, sgd, MultiStepLR(0.1, {}), options);
  LoaderOptions train_options;
  train_options.batch_size = 4;  // two steps
  DataLoader train(data, train_options);
  trainer.train_epoch(1, train);

  ctx.epoch = 1;
  const nlohmann::json after = measure(ctx);
  EXPECT_EQ(after["total"]["parameters_with_grad"], 4);
  const auto named = net.named_parameters();
  ASSERT_EQ(after["parameters"].size(), named.size());
  for (size_t i = 0; i < named.size(); ++i) {
    const Variable& p = named[i].second;
    ASSERT_TRUE(p.grad().defined()) << named[i].first;
    double g_sq = 0;
    for (double v : p.grad().to_double_vector()) g_sq += v * v;
    EXPECT_EQ(after["parameters"][i]["name"], named[i].first);
    EXPECT_NEAR(after["parameters"][i]["grad_norm"].get<double>(), std::sqrt(g_sq), 1e-9);
    EXPECT_GT(after["parameters"][i]["grad_norm"].get<double>(), 0.0);
  }
}
