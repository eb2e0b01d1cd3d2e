// Squeeze-and-excitation, the worked example of a composite layer (docs/extending.md §1) and of a new
// architecture (§3): the two primitives it needed (sigmoid, channel_scale) against finite differences and
// across backends, the SqueezeExcitation module (shapes, a value by hand, parameter count by hand, gradient
// check in float64), the SE residual blocks, and the registered `resnet-se`.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/ops/channel_scale.h"
#include "autograd/ops/sigmoid.h"
#include "layers/models/resnet_se.h"
#include "layers/squeeze_excitation.h"
#include "backends/device_query.h"
#include "tests/testing/backend_compare.h"
#include "tests/testing/gradcheck.h"
#include "tests/testing/module_gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

constexpr MemoryFormat kCL = MemoryFormat::channels_last;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;

int64_t se_parameters(int64_t c, int64_t r) {
  const int64_t h = SqueezeExcitation::hidden_channels(c, r);
  return c * h + h + h * c + c;  // fc1 weight + bias, fc2 weight + bias
}

}  // namespace

// ------------------------------------------------------------------------------------------ sigmoid

TEST(SESigmoid, ValuesByHand) {
  const Tensor x = tensor_from_values({0, 2, -2, 800, -800}, {5});
  Tensor y = Tensor::empty({5}, DType::f64);
  sigmoid_forward(x, y);
  const double s2 = 1.0 / (1.0 + std::exp(-2.0));
  expect_close(y, tensor_from_values({0.5, s2, 1 - s2, 1, 0}, {5}), 1e-14, 0, "sigmoid");  // no overflow in the tails
}

TEST(SESigmoid, RefGradientMatchesFiniteDifferences) {
  Generator gen(21);
  for (MemoryFormat layout : {kCL, kRowMajor}) {
    Tensor x = random_tensor({2, 3, 4, 5}, DType::f64, gen, layout, -4, 4);
    const Tensor r = random_tensor(x.shape(), DType::f64, gen);
    auto forward = [&] {
      Tensor y = Tensor::empty(x.shape(), DType::f64);
      sigmoid_forward(x, y);
      return y;
    };
    Tensor dx = Tensor::empty(x.shape(), DType::f64, Device::cpu(), layout);
    sigmoid_backward(r, forward(), dx);
    expect_gradient_matches([&] { return dot(forward(), r); }, x, dx, 1e-6, "sigmoid dx");
  }
}

TEST(SESigmoid, CpuMatchesRef) {
  Generator gen(22);
  for (const auto& c : {std::pair{Shape{2, 19, 5, 3}, kCL}, {Shape{1, 4, 3, 3}, kRowMajor}, {Shape{7, 13}, kRowMajor}}) {
    const Shape shape = c.first;  // plain variables: the lambdas capture them (clang 14)
    const MemoryFormat layout = c.second;
    const Tensor x = random_tensor(shape, DType::f32, gen, layout, -6, 6), dy = random_tensor(shape, DType::f32, gen, layout);
    expect_cpu_matches_ref(
        [&] {
          Tensor y = Tensor::empty(shape, DType::f32, Device::cpu(), layout), dx = Tensor::empty(shape, DType::f32, Device::cpu(), layout);
          sigmoid_forward(x, y);
          sigmoid_backward(dy, y, dx);
          return std::vector<Tensor>{y, dx};
        },
        1e-6, "sigmoid " + shape_str(shape));
  }
}

// ------------------------------------------------------------------------------------ channel_scale

TEST(SEChannelScale, RefGradientsMatchFiniteDifferences) {
  Generator gen(23);
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{3, 6}})
    for (MemoryFormat layout : {kCL, kRowMajor}) {
      if (shape.size() == 2 && layout == kCL) continue;
      SCOPED_TRACE(shape_str(shape));
      Tensor x = random_tensor(shape, DType::f64, gen, layout);
      Tensor s = random_tensor({shape[0], shape[1]}, DType::f64, gen);
      const Tensor r = random_tensor(shape, DType::f64, gen);
      auto loss = [&] {
        Tensor y = Tensor::empty(shape, DType::f64);
        channel_scale_forward(x, s, y);
        return dot(y, r);
      };
      Tensor dx = Tensor::empty(shape, DType::f64, Device::cpu(), layout), ds = Tensor::empty(s.shape(), DType::f64);
      channel_scale_backward(r, x, s, dx, ds);
      expect_gradient_matches(loss, x, dx, 1e-6, "dx");
      expect_gradient_matches(loss, s, ds, 1e-6, "ds");
    }
}

TEST(SEChannelScale, CpuMatchesRef) {
  Generator gen(24);
  for (const auto& c : {std::pair{Shape{2, 19, 5, 3}, kCL}, {Shape{3, 8, 4, 4}, kRowMajor}, {Shape{7, 13}, kRowMajor}}) {
    const Shape shape = c.first;  // plain variables: the lambdas capture them (clang 14)
    const MemoryFormat layout = c.second;
    const Tensor x = random_tensor(shape, DType::f32, gen, layout), dy = random_tensor(shape, DType::f32, gen, layout);
    const Tensor s = random_tensor({shape[0], shape[1]}, DType::f32, gen);
    expect_cpu_matches_ref(
        [&] {
          Tensor y = Tensor::empty_activation(shape), dx = Tensor::empty(shape, DType::f32, Device::cpu(), layout);
          Tensor ds = Tensor::empty(s.shape());
          channel_scale_forward(x, s, y);
          channel_scale_backward(dy, x, s, dx, ds);
          Tensor dx_only = Tensor::empty_activation(shape), no_ds;  // one gradient wanted
          channel_scale_backward(dy, x, s, dx_only, no_ds);
          return std::vector<Tensor>{y, dx, ds, dx_only};
        },
        1e-5, "channel_scale " + shape_str(shape));
  }
}

TEST(SEChannelScale, OpGradientsThroughAutograd) {
  Generator gen(25);
  Variable x(random_tensor({2, 4, 3, 3}, DType::f64, gen, kCL), true), s(random_tensor({2, 4}, DType::f64, gen), true);
  expect_autograd_matches_finite_differences([&] { return channel_scale(x, s); }, {{"x", x}, {"s", s}}, gen, 1e-6);
  expect_error_containing([&] { channel_scale(x, Variable(Tensor::zeros({2, 3}, DType::f64))); },
                          {"channel_scale", "[2, 3]"});
}

// ------------------------------------------------------------------------------- SqueezeExcitation

TEST(SEModule, ShapesNamesAndParameterCountByHand) {
  Generator gen(26);
  SqueezeExcitation se(64, gen);  // r = 16: hidden 4
  EXPECT_EQ(se.parameter_count(), 64 * 4 + 4 + 4 * 64 + 64);  // 580
  std::vector<std::string> names;
  for (auto& [name, p] : se.named_parameters()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(se(Variable(random_tensor({2, 64, 5, 3}, DType::f32, gen, kCL))).shape(), (Shape{2, 64, 5, 3}));

  SqueezeExcitation narrow(8, gen);  // 8 / 16 rounds to 0: the hidden width stays 1
  EXPECT_EQ(narrow.parameter_count(), 8 * 1 + 1 + 1 * 8 + 8);
}

TEST(SEModule, OutputByHand) {
  // fc2 weight 0: the gate is sigmoid(fc2.bias) whatever the input, so y = x * sigmoid(b_c) per channel.
  Generator gen(27);
  SqueezeExcitation se(3, gen, 1);
  parameters_to_double(se);
  se.fc2->weight.data().zero_();
  const std::vector<double> b = {-1.0, 0.0, 2.0};
  se.fc2->bias.data().copy_(tensor_from_values(b, {3}));
  const Tensor x = random_tensor({2, 3, 2, 2}, DType::f64, gen);
  const Tensor y = se(Variable(x)).data();
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t h = 0; h < 2; ++h)
        for (int64_t w = 0; w < 2; ++w)
          EXPECT_NEAR(y.at({n, c, h, w}), x.at({n, c, h, w}) / (1.0 + std::exp(-b[c])), 1e-14);
}

TEST(SEModule, GradientCheckInDouble) {
  Generator gen(28);
  SqueezeExcitation se(6, gen, 2);  // hidden 3
  parameters_to_double(se);
  Variable x(random_tensor({2, 6, 3, 3}, DType::f64, gen, kCL), true);
  std::vector<std::pair<std::string, Variable>> leaves = {{"x", x}};
  for (auto& [name, p] : se.named_parameters()) leaves.emplace_back(name, p);
  expect_autograd_matches_finite_differences([&] { return se(x); }, leaves, gen, 1e-6);
}

// ------------------------------------------------------------------------------------ SE-ResNet

TEST(SEResNet, BlocksKeepResNetShapesAndAddAnSeChild) {
  Generator gen(29);
  SEBasicBlock basic(8, 16, 2, gen);  // stride 2 and a channel change: downsample shortcut
  EXPECT_EQ(basic(Variable(random_tensor({2, 8, 9, 9}, DType::f32, gen, kCL))).shape(), (Shape{2, 16, 5, 5}));
  EXPECT_NE(basic.find_module("se"), nullptr);
  EXPECT_NE(basic.find_module("downsample"), nullptr);
  // conv 3x3 8->16 + bn + conv 3x3 16->16 + bn + SE(16, hidden 1) + 1x1 8->16 + bn
  EXPECT_EQ(basic.parameter_count(), 8 * 16 * 9 + 32 + 16 * 16 * 9 + 32 + se_parameters(16, 16) + 8 * 16 + 32);

  SEBottleneck bottleneck(16, 8, 1, gen);  // 16 -> 32 channels
  EXPECT_EQ(bottleneck(Variable(random_tensor({2, 16, 5, 5}, DType::f32, gen, kCL))).shape(), (Shape{2, 32, 5, 5}));
  EXPECT_EQ(bottleneck.find_module("se")->parameter_count(), se_parameters(32, 16));
}

TEST(SEResNet, BlockForwardAndBackwardCpuMatchesRef) {
  Generator gen(30);
  SEBasicBlock block(6, 12, 2, gen, 4);
  const Tensor x = random_tensor({3, 6, 7, 7}, DType::f32, gen, kCL);
  const Tensor r = random_tensor({3, 12, 4, 4}, DType::f32, gen);
  expect_cpu_matches_ref(
      [&] {
        block.zero_grad();
        Variable xv(x, true);
        Variable y = block(xv);
        y.backward(r);
        std::vector<Tensor> out = {y.data(), xv.grad()};
        for (auto& p : block.parameters()) out.push_back(p.grad());
        return out;
      },
      1e-4, "SE basic block (output, input gradient, parameter gradients)");
}

TEST(SEResNet, RegisteredAndCountedByHand) {
  const auto archs = registered_models();
  EXPECT_NE(std::find(archs.begin(), archs.end(), "resnet-se"), archs.end());

  // ResNet-18, CIFAR stem, 10 classes: 11,173,962 parameters. SE adds, per block on C channels,
  // 2·C·(C/16) + C/16 + C, two blocks per stage at C = 64, 128, 256, 512:
  //   2·(580 + 2,184 + 8,464 + 33,312) = 89,080.
  Generator gen(31);
  NetworkPtr se18 = build_model({"resnet-se", 18, 1.0, 3, 32, 10}, gen);
  EXPECT_EQ(se18->parameter_count(), 11173962 + 89080);
  EXPECT_NE(se18->find_module("layer4.1.se.fc2"), nullptr);

  // Bottlenecks: SE on planes·4 channels; ResNet-50 has 3, 4, 6, 3 blocks.
  NetworkPtr r50 = build_model({"resnet", 50, 0.25, 3, 32, 10}, gen);
  NetworkPtr se50 = build_model({"resnet-se", 50, 0.25, 3, 32, 10}, gen);
  const int blocks[] = {3, 4, 6, 3};
  int64_t se_total = 0;
  for (int stage = 0; stage < 4; ++stage) se_total += blocks[stage] * se_parameters(scaled_channels(64 << stage, 0.25) * 4, 16);
  EXPECT_EQ(se50->parameter_count(), r50->parameter_count() + se_total);
}

TEST(SEResNet, TrainsOneStep) {
  Generator gen(32);
  NetworkPtr net = build_model({"resnet-se", 18, 0.125, 1, 16, 4}, gen);
  Variable logits = (*net)(Variable(random_tensor({4, 1, 16, 16}, DType::f32, gen, kCL)));
  EXPECT_EQ(logits.shape(), (Shape{4, 4}));
  cross_entropy(logits, random_labels(4, 4, gen)).backward();
  for (auto& [name, p] : net->named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
  EXPECT_EQ(net->stage_outputs().size(), 8u);  // the NC per-layer hooks see the SE blocks as ResNet's
}

// The CUDA kernels of sigmoid and channel_scale against the reference, on a GPU build with a device.
TEST(SEChannelScale, CudaMatchesRef) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device (or a CPU-only build)";
  Generator gen(33);
  for (DType dtype : {DType::f32, DType::f64}) {
    const Shape shape{3, 7, 5, 4};
    const Tensor x = random_tensor(shape, dtype, gen, kCL), dy = random_tensor(shape, dtype, gen, kCL);
    const Tensor s = random_tensor({3, 7}, dtype, gen);
    expect_backend_matches_ref(
        Device::cuda(),
        [&](Device d) {
          const Tensor xd = to_device(x, d), dyd = to_device(dy, d), sd = to_device(s, d);
          Tensor y = Tensor::empty(shape, dtype, d, kCL), dx = Tensor::empty(shape, dtype, d, kCL);
          Tensor ds = Tensor::empty({3, 7}, dtype, d);
          channel_scale_forward(xd, sd, y);
          channel_scale_backward(dyd, xd, sd, dx, ds);
          Tensor sig = Tensor::empty(shape, dtype, d, kCL), dsig = Tensor::empty(shape, dtype, d, kCL);
          sigmoid_forward(xd, sig);
          sigmoid_backward(dyd, sig, dsig);
          return Outputs{y, dx, ds, sig, dsig};
        },
        dtype == DType::f64 ? 1e-12 : 1e-5, std::string("channel_scale and sigmoid ") + dtype_name(dtype),
        {"channel_scale y", "channel_scale dx", "channel_scale ds", "sigmoid y", "sigmoid dx"});
  }
}
