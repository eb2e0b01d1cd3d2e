// Per-stage NC1 (nc/layerwise_nc1.h): a stage whose features are exactly collapsed has NC1 = 0; flattened
// and pooled stage features agree with the dense definition; the last stage of a ResNet, pooled, is the
// classifier's input and gives the main analyzer's NC1.
#include <gtest/gtest.h>

#include <cmath>

#include "data/data_loader.h"
#include "nc/dense_reference.h"
#include "nc/layerwise_nc1.h"
#include "nc/measurements.h"
#include "nc/model_analysis.h"
#include "tests/testing/memory_dataset.h"

namespace collapse::nc {
namespace {

using collapse::testing::MemoryDataset;  // a few images in memory (HWC floats), labels given

Tensor f64_tensor(const std::vector<double>& values, const Shape& shape) { return Tensor::from_vector(values, shape); }

void to_f64(Module& m) {
  for (auto& p : m.parameters()) p.data() = p.data().to(DType::f64);
}

// `per_class` examples of each class, interleaved; each value N(0, 1) plus 0.7 · label, so classes differ.
std::shared_ptr<MemoryDataset> gaussian_classes(ImageShape shape, int64_t classes, int64_t per_class, uint64_t seed) {
  Generator gen(seed);
  std::vector<float> values;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < per_class; ++i)
    for (int64_t c = 0; c < classes; ++c) {
      labels.push_back(c);
      for (int64_t j = 0; j < shape.numel(); ++j) values.push_back(static_cast<float>(gen.normal() + 0.7 * c));
    }
  return std::make_shared<MemoryDataset>(shape, classes, std::move(values), std::move(labels));
}

// Input x ∈ R^C with x_label ∈ [1, 2) and every other x_j ∈ [−2, −1). Stage "hidden" = ReLU([x, x − 1])
// still varies within a class; stage "onehot" = ReLU(ReLU(x) − ReLU(x − 1)) = clamp(x, 0, 1) is exactly
// the one-hot vector of the label (x − 1 and x − (x − 1) are exact in floating point): Σ_W = 0.
class ClampNet : public Network {
 public:
  ClampNet(int64_t classes, Generator& gen) : Network("ClampNet") {
    const auto C = static_cast<size_t>(classes);
    flatten_ = register_module("flatten", std::make_shared<Flatten>());
    shift_ = register_module("shift", std::make_shared<Linear>(classes, 2 * classes, gen));
    hidden_ = register_module("hidden", std::make_shared<ReLU>());
    clamp_ = register_module("clamp", std::make_shared<Linear>(2 * classes, classes, gen));
    onehot_ = register_module("onehot", std::make_shared<ReLU>());
    fc_ = register_module("fc", std::make_shared<Linear>(classes, classes, gen));
    std::vector<double> shift(2 * C * C, 0.0), shift_bias(2 * C, 0.0), clamp(2 * C * C, 0.0), eye(C * C, 0.0);
    for (size_t c = 0; c < C; ++c) {
      shift[c * C + c] = shift[(C + c) * C + c] = 1.0;  // rows c and C + c both read x_c
      shift_bias[C + c] = -1.0;
      clamp[c * 2 * C + c] = 1.0;       // + ReLU(x_c)
      clamp[c * 2 * C + C + c] = -1.0;  // − ReLU(x_c − 1)
      eye[c * C + c] = 1.0;
    }
    shift_->weight.data() = f64_tensor(shift, {2 * classes, classes});
    shift_->bias.data() = f64_tensor(shift_bias, {2 * classes});
    clamp_->weight.data() = f64_tensor(clamp, {classes, 2 * classes});
    clamp_->bias.data() = f64_tensor(std::vector<double>(C, 0.0), {classes});
    fc_->weight.data() = f64_tensor(eye, {classes, classes});
    fc_->bias.data() = f64_tensor(std::vector<double>(C, 0.0), {classes});
  }
  Variable forward(const Variable& x) override {
    return (*fc_)((*onehot_)((*clamp_)((*hidden_)((*shift_)((*flatten_)(x))))));
  }
  Linear& classifier() override { return *fc_; }
  std::vector<std::pair<std::string, Module*>> stage_outputs() override {
    return {{"hidden", hidden_.get()}, {"onehot", onehot_.get()}};
  }

 private:
  std::shared_ptr<Flatten> flatten_;
  std::shared_ptr<Linear> shift_, clamp_, fc_;
  std::shared_ptr<ReLU> hidden_, onehot_;
};

// Conv → ReLU (the stage, a [N, 3, 4, 4] map) → global average pool → classifier.
class ConvNet : public Network {
 public:
  ConvNet(int64_t in_channels, int64_t classes, Generator& gen) : Network("ConvNet") {
    conv_ = register_module("conv", std::make_shared<Conv2d>(in_channels, 3, 3, 1, 1, true, gen));
    relu_ = register_module("relu", std::make_shared<ReLU>());
    fc_ = register_module("fc", std::make_shared<Linear>(3, classes, gen));
  }
  Variable forward(const Variable& x) override { return (*fc_)(global_avg_pool((*relu_)((*conv_)(x)))); }
  Linear& classifier() override { return *fc_; }
  std::vector<std::pair<std::string, Module*>> stage_outputs() override { return {{"relu", relu_.get()}}; }
  ReLU& stage() { return *relu_; }

 private:
  std::shared_ptr<Conv2d> conv_;
  std::shared_ptr<ReLU> relu_;
  std::shared_ptr<Linear> fc_;
};

TEST(NcLayerwise, ExactlyCollapsedStageHasZeroNc1) {
  const int64_t C = 3, per_class = 12;
  Generator gen(21);
  std::vector<float> values;
  std::vector<int64_t> labels;
  for (int64_t i = 0; i < per_class; ++i)
    for (int64_t c = 0; c < C; ++c) {
      labels.push_back(c);
      for (int64_t j = 0; j < C; ++j)
        values.push_back(static_cast<float>(j == c ? 1.0 + gen.uniform() : -1.0 - gen.uniform()));
    }
  auto data = std::make_shared<MemoryDataset>(ImageShape{1, 1, C}, C, values, labels);
  DataLoader loader(data, LoaderOptions::evaluation(5));
  ClampNet net(C, gen);

  const LayerwiseNc1 result = layerwise_nc1(net, loader);
  EXPECT_EQ(result.features, StageFeatures::flattened);
  ASSERT_EQ(result.stages.size(), 2u);
  EXPECT_EQ(result.stages[0].name, "hidden");
  EXPECT_EQ(result.stages[0].dim, 2 * C);
  EXPECT_EQ(result.stages[1].name, "onehot");
  EXPECT_EQ(result.stages[1].dim, C);
  EXPECT_EQ(result.stages[1].nc1, 0.0);

  // The hidden stage against the dense definition, on its features computed here: [ReLU(x), ReLU(x − 1)].
  std::vector<double> hidden;
  for (int64_t i = 0; i < data->size(); ++i) {
    for (int64_t j = 0; j < C; ++j) hidden.push_back(std::max(0.0, static_cast<double>(values[i * C + j])));
    for (int64_t j = 0; j < C; ++j) hidden.push_back(std::max(0.0, static_cast<double>(values[i * C + j]) - 1.0));
  }
  const auto dense = dense_reference_nc1<double>(hidden.data(), labels.data(), data->size(), C, 2 * C);
  EXPECT_GT(result.stages[0].nc1, 1e-3);
  EXPECT_NEAR(result.stages[0].nc1 / dense.nc1, 1.0, 1e-10);
}

// The stage's [N, 3, 4, 4] map, flattened and pooled, against the dense definition on the same features
// collected by a hook; `automatic` pools once the budget is too small for the flattened map.
TEST(NcLayerwise, FlattenedAndPooledConvFeaturesMatchTheDenseDefinition) {
  const int64_t C = 4;
  auto data = gaussian_classes({2, 4, 4}, C, 9, 22);
  DataLoader loader(data, LoaderOptions::evaluation(7));
  Generator gen(23);
  ConvNet net(2, C, gen);
  to_f64(net);

  // Every example's stage output, in one float64 batch.
  std::vector<double> flat, pooled;
  {
    NoGradGuard no_grad;
    Tensor images = Tensor::empty({data->size(), 2, 4, 4}, DType::f32, Device::cpu(), MemoryFormat::channels_last);
    for (int64_t i = 0; i < data->size(); ++i) data->write_example(i, images.data<float>() + i * 32);
    HookHandle hook = net.stage().register_forward_hook([&](Module&, const Variable&, const Variable& out) {
      flat = out.data().to_double_vector();  // logical (C,H,W) order per example
      pooled = global_avg_pool(out).data().to_double_vector();
    });
    net(Variable(images.to(DType::f64)));
    hook.remove();
  }
  const int64_t n = data->size();
  const auto dense_flat = dense_reference_nc1<double>(flat.data(), data->labels().data(), n, C, 48);
  const auto dense_pooled = dense_reference_nc1<double>(pooled.data(), data->labels().data(), n, C, 3);

  const LayerwiseNc1 flattened = layerwise_nc1(net, loader);
  EXPECT_EQ(flattened.features, StageFeatures::flattened);
  ASSERT_EQ(flattened.stages.size(), 1u);
  EXPECT_EQ(flattened.stages[0].dim, 48);
  EXPECT_NEAR(flattened.stages[0].nc1 / dense_flat.nc1, 1.0, 1e-10);

  LayerwiseOptions tight;
  tight.memory_budget_bytes = 1;
  const LayerwiseNc1 pooled_result = layerwise_nc1(net, loader, tight);
  EXPECT_EQ(pooled_result.features, StageFeatures::pooled);
  EXPECT_EQ(pooled_result.stages[0].dim, 3);
  EXPECT_NEAR(pooled_result.stages[0].nc1 / dense_pooled.nc1, 1.0, 1e-10);
  EXPECT_EQ(to_json(pooled_result).at("features"), "pooled");
}

// ResNet's last residual block, pooled, is exactly the classifier's input: its NC1 is the main metric's.
TEST(NcLayerwise, LastResNetStagePooledEqualsTheMainAnalyzersNc1) {
  const int64_t C = 3;
  auto data = gaussian_classes({1, 16, 16}, C, 8, 24);
  DataLoader loader(data, LoaderOptions::evaluation(10));
  Generator gen(25);
  NetworkPtr net = build_model({"resnet", 18, 0.125, 1, 16, C}, gen);
  net->train();

  LayerwiseOptions pooled;
  pooled.features = StageFeatures::pooled;
  const LayerwiseNc1 result = layerwise_nc1(*net, loader, pooled);
  ASSERT_EQ(result.stages.size(), net->stage_outputs().size());
  EXPECT_EQ(result.stages.back().name, "layer4.1");
  EXPECT_EQ(result.stages.back().dim, net->classifier().weight.data().size(1));
  EXPECT_TRUE(net->is_training());  // the mode it found

  const CollapseMetrics main = analyze_model(*net, loader, nullptr, {});
  EXPECT_NEAR(result.stages.back().nc1, main.nc1, 1e-12 * main.nc1);
  for (const auto& s : result.stages) EXPECT_TRUE(std::isfinite(s.nc1)) << s.name;

  // Flattened (the automatic choice at this size): one map per block, C·H·W features.
  const LayerwiseNc1 flattened = layerwise_nc1(*net, loader);
  EXPECT_EQ(flattened.features, StageFeatures::flattened);
  EXPECT_EQ(flattened.stages.front().dim, 8 * 16 * 16);  // layer1: 64 · 0.125 channels at full resolution
  EXPECT_EQ(flattened.stages.back().dim, 64 * 2 * 2);    // layer4: 512 · 0.125 channels at 2 × 2
}

TEST(NcLayerwise, MeasurementReportsEveryStage) {
  const MeasurementInfo& info = find_measurement("layerwise_nc1");
  EXPECT_FALSE(info.default_on);
  const int64_t C = 3;
  auto data = gaussian_classes({1, 8, 8}, C, 5, 26);
  DataLoader loader(data, LoaderOptions::evaluation(4));
  Generator gen(27);
  ConvNet net(1, C, gen);
  const CollapseMetrics metrics;
  MeasurementContext ctx{net, loader, nullptr, Device::cpu(), 0, 1, metrics};
  const nlohmann::json j = info.fn(ctx);
  EXPECT_EQ(j.at("features"), "flattened");
  ASSERT_EQ(j.at("stages").size(), 1u);
  EXPECT_EQ(j.at("stages")[0].at("name"), "relu");
  EXPECT_EQ(j.at("stages")[0].at("dim").get<int64_t>(), 3 * 8 * 8);
  EXPECT_GT(j.at("stages")[0].at("nc1").get<double>(), 0.0);
}

// The second train pass read back from the first (AnalysisOptions::feature_cache_bytes) gives the metrics of
// two network passes bit for bit, and a budget too small for the set falls back to running the network.
TEST(NcAnalysis, FeatureCacheGivesTheTwoPassMetricsBitForBit) {
  const int64_t C = 4;
  auto train = gaussian_classes({1, 16, 16}, C, 10, 31);
  auto test = gaussian_classes({1, 16, 16}, C, 5, 32);
  DataLoader train_loader(train, LoaderOptions::evaluation(7));  // several batches, a short last one
  DataLoader test_loader(test, LoaderOptions::evaluation(7));
  Generator gen(26);
  NetworkPtr net = build_model({"resnet", 18, 0.125, 1, 16, C}, gen);
  AnalysisOptions cached, uncached, too_small;
  uncached.feature_cache_bytes = 0;
  too_small.feature_cache_bytes = 4 * 16 * 10;  // about one batch: exceeded during the first pass
  const std::string a = to_json(analyze_model(*net, train_loader, &test_loader, cached)).dump();
  const std::string b = to_json(analyze_model(*net, train_loader, &test_loader, uncached)).dump();
  const std::string c = to_json(analyze_model(*net, train_loader, &test_loader, too_small)).dump();
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c);
  EXPECT_NE(a.find("\"nc1\""), std::string::npos);
}

}  // namespace
}  // namespace collapse::nc
