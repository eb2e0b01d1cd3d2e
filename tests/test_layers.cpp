// Modules: dotted names, hooks, state_dict round trips and errors, batch-norm modes and running statistics.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "layers/layers.h"
#include "layers/models/resnet.h"

using namespace collapse;

namespace {
struct TwoLayer : Module {
  TwoLayer(Generator& g) : Module("TwoLayer") {
    body = register_module("body", std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
                                       std::make_shared<Linear>(4, 3, g), std::make_shared<ReLU>(),
                                       std::make_shared<BatchNorm1d>(3)}));
    head = register_module("head", std::make_shared<Linear>(3, 2, g));
  }
  Variable forward(const Variable& x) override { return (*head)((*body)(x)); }
  std::shared_ptr<Sequential> body;
  std::shared_ptr<Linear> head;
};

std::vector<std::string> keys(const StateDict& sd) {
  std::vector<std::string> k;
  for (auto& [n, t] : sd) k.push_back(n);
  return k;
}
}  // namespace

TEST(Module, DottedNamesInRegistrationOrder) {
  Generator g(1);
  TwoLayer m(g);
  EXPECT_EQ(keys(m.state_dict()),
            (std::vector<std::string>{"body.0.weight", "body.0.bias", "body.2.weight", "body.2.bias",
                                      "body.2.running_mean", "body.2.running_var", "body.2.num_batches_tracked",
                                      "head.weight", "head.bias"}));
  EXPECT_EQ(m.parameters().size(), 6u);
  EXPECT_EQ(m.parameter_count(), 4 * 3 + 3 + 3 + 3 + 3 * 2 + 2);
  EXPECT_EQ(m.find_module("body.2")->type_name(), "BatchNorm1d");
}

TEST(Module, ForwardHookSeesInputAndOutputAndCanBeRemoved) {
  Generator g(2);
  TwoLayer m(g);
  int calls = 0;
  Tensor seen_in, seen_out;
  HookHandle h = m.head->register_forward_hook([&](Module& mod, const Variable& in, const Variable& out) {
    ++calls;
    EXPECT_EQ(&mod, m.head.get());
    seen_in = in.data();
    seen_out = out.data();
  });
  Variable x(Tensor::full({5, 4}, 0.5));
  Variable y = m(x);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen_in.shape(), (Shape{5, 3}));
  EXPECT_EQ(seen_out.to_double_vector(), y.data().to_double_vector());
  h.remove();
  m(x);
  EXPECT_EQ(calls, 1);
}

TEST(Module, StateDictRoundTripAndStrictErrors) {
  Generator g1(3), g2(4);
  TwoLayer a(g1), b(g2);
  EXPECT_NE(a.head->weight.data().to_double_vector(), b.head->weight.data().to_double_vector());
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(a.head->weight.data().to_double_vector(), b.head->weight.data().to_double_vector());

  StateDict missing = a.state_dict();
  missing.pop_back();
  try {
    b.load_state_dict(missing);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing key 'head.bias'"), std::string::npos) << e.what();
  }
  StateDict extra = a.state_dict();
  extra.emplace_back("head.extra", Tensor::zeros({1}));
  EXPECT_THROW(b.load_state_dict(extra), Error);
  b.load_state_dict(extra, /*strict=*/false);
  StateDict wrong = a.state_dict();
  wrong[0].second = Tensor::zeros({2, 2});
  try {
    b.load_state_dict(wrong);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("body.0.weight"), std::string::npos) << e.what();
  }
}

TEST(BatchNorm, RunningStatisticsMatchHandComputation) {
  BatchNorm1d bn(2);
  // Channel 0: 1, 2, 3, 6 (mean 3, unbiased var 14/3); channel 1: constant 5 (var 0).
  Tensor x = Tensor::from_vector(std::vector<double>{1, 5, 2, 5, 3, 5, 6, 5}, {4, 2});
  bn.weight.data() = bn.weight.data().to(DType::f64);
  bn.bias.data() = bn.bias.data().to(DType::f64);
  bn.running_mean = bn.running_mean.to(DType::f64);
  bn.running_var = bn.running_var.to(DType::f64);
  bn.train();
  Variable y = bn(Variable(x));
  auto rm = bn.running_mean.to_double_vector(), rv = bn.running_var.to_double_vector();
  EXPECT_NEAR(rm[0], 0.9 * 0 + 0.1 * 3, 1e-12);
  EXPECT_NEAR(rm[1], 0.1 * 5, 1e-12);
  EXPECT_NEAR(rv[0], 0.9 * 1 + 0.1 * 14.0 / 3.0, 1e-12);
  EXPECT_NEAR(rv[1], 0.9, 1e-12);
  // Training output uses the biased batch variance 3.5.
  EXPECT_NEAR(y.data().at({0, 0}), (1 - 3) / std::sqrt(3.5 + 1e-5), 1e-9);
  EXPECT_EQ(static_cast<int64_t>(bn.num_batches_tracked.item()), 1);

  bn.eval();
  Variable ye = bn(Variable(x));
  EXPECT_NEAR(ye.data().at({0, 0}), (1 - rm[0]) / std::sqrt(rv[0] + 1e-5), 1e-9);
  EXPECT_EQ(bn.running_mean.to_double_vector(), rm);  // eval leaves the statistics alone
}

TEST(Module, TrainEvalPropagatesToChildren) {
  Generator g(5);
  TwoLayer m(g);
  m.eval();
  for (auto& [n, mod] : m.named_modules()) EXPECT_FALSE(mod->is_training()) << n;
  m.train();
  for (auto& [n, mod] : m.named_modules()) EXPECT_TRUE(mod->is_training()) << n;
}

TEST(Module, ResNetUsesTorchvisionNames) {
  Generator g(6);
  ModelConfig cfg;
  cfg.width = 0.125;
  ResNet net(cfg, g);
  auto k = keys(net.state_dict());
  for (const char* name : {"conv1.weight", "bn1.running_mean", "layer1.0.bn1.running_mean", "layer1.0.conv2.weight",
                           "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var",
                           "layer4.1.bn2.num_batches_tracked", "fc.weight", "fc.bias"})
    EXPECT_NE(std::find(k.begin(), k.end(), name), k.end()) << name;
}
