// DeepFool (nc/deepfool.h) on known answers: for an affine classifier one step lands exactly
// (1 + overshoot) × the distance to the nearest decision boundary away; a model whose decision cannot
// change runs into the iteration cap; and the "deepfool" measurement averages over the test images.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <limits>
#include <numeric>

#include "data/data_loader.h"
#include "nc/deepfool.h"
#include "nc/measurements.h"
#include "tests/testing/memory_dataset.h"

namespace collapse::nc {
namespace {

using collapse::testing::MemoryDataset;  // a few images in memory (HWC floats), labels given

Tensor f64_tensor(const std::vector<double>& values, const Shape& shape) { return Tensor::from_vector(values, shape); }
// Literal values go through an out-of-line copy: GCC 12.2 at -O3 -march=native (AVX-512) compiled the
// inlined std::vector<double>{1, 1, 0, 0} of UnfoolableNet's constructor into {1, 1, 1, 1} (one broadcast
// store of 1.0).
[[gnu::noinline]] Tensor f64_tensor(std::initializer_list<double> values, const Shape& shape) {
  return f64_tensor(std::vector<double>(values), shape);
}

// Every parameter to float64 (the reference backend then runs the model: exact enough for 1e-12 checks).
void to_f64(Module& m) {
  for (auto& p : m.parameters()) p.data() = p.data().to(DType::f64);
}

// f(x) = W flatten(x) + b: the decision regions are polyhedra, so the minimal perturbation has a closed form.
class AffineNet : public Network {
 public:
  AffineNet(int64_t inputs, int64_t classes, Generator& gen) : Network("AffineNet") {
    flatten_ = register_module("flatten", std::make_shared<Flatten>());
    fc_ = register_module("fc", std::make_shared<Linear>(inputs, classes, gen));
  }
  Variable forward(const Variable& x) override { return (*fc_)((*flatten_)(x)); }
  Linear& classifier() override { return *fc_; }

 private:
  std::shared_ptr<Flatten> flatten_;
  std::shared_ptr<Linear> fc_;
};

// One scalar input x: f_0 = |x| + 1 (through ReLU(x) + ReLU(−x)), f_1 = 0. Class 1 never wins, yet every
// gradient is non-zero: DeepFool steps back and forth across x = 0 until the cap.
class UnfoolableNet : public Network {
 public:
  explicit UnfoolableNet(Generator& gen) : Network("UnfoolableNet") {
    flatten_ = register_module("flatten", std::make_shared<Flatten>());
    fold_ = register_module("fold", std::make_shared<Linear>(1, 2, gen));
    relu_ = register_module("relu", std::make_shared<ReLU>());
    fc_ = register_module("fc", std::make_shared<Linear>(2, 2, gen));
    fold_->weight.data() = f64_tensor({1, -1}, {2, 1});
    fold_->bias.data() = f64_tensor({0, 0}, {2});
    fc_->weight.data() = f64_tensor({1, 1, 0, 0}, {2, 2});
    fc_->bias.data() = f64_tensor({1, 0}, {2});
  }
  Variable forward(const Variable& x) override { return (*fc_)((*relu_)((*fold_)((*flatten_)(x)))); }
  Linear& classifier() override { return *fc_; }

 private:
  std::shared_ptr<Flatten> flatten_;
  std::shared_ptr<Linear> fold_, fc_;
  std::shared_ptr<ReLU> relu_;
};

// The closed form for an affine classifier, among the `candidates` classes (all others when empty):
// the nearest boundary of the region of `k`, d = min_l |f_l − f_k| / ‖w_l − w_k‖, and its class l.
struct AffineBoundary {
  double distance = std::numeric_limits<double>::infinity();
  double gap = 0;       // f_l − f_k
  double w_norm = 0;    // ‖w_l − w_k‖
  int64_t cls = -1;
  std::vector<double> w_diff;
};
AffineBoundary nearest_affine_boundary(Linear& fc, const std::vector<double>& x, int64_t k,
                                       const std::vector<int64_t>& candidates) {
  const auto w = fc.weight.data().to_double_vector(), b = fc.bias.data().to_double_vector();
  const auto d = static_cast<int64_t>(x.size()), C = fc.weight.data().size(0);
  auto logit = [&](int64_t c) {
    double z = b[c];
    for (int64_t j = 0; j < d; ++j) z += w[c * d + j] * x[j];
    return z;
  };
  AffineBoundary best;
  for (int64_t l = 0; l < C; ++l) {
    if (l == k || (!candidates.empty() && std::find(candidates.begin(), candidates.end(), l) == candidates.end()))
      continue;
    std::vector<double> diff(d);
    double sq = 0;
    for (int64_t j = 0; j < d; ++j) sq += (diff[j] = w[l * d + j] - w[k * d + j]) * diff[j];
    const double gap = logit(l) - logit(k);
    if (std::abs(gap) / std::sqrt(sq) < best.distance) best = {std::abs(gap) / std::sqrt(sq), gap, std::sqrt(sq), l, diff};
  }
  return best;
}

std::vector<double> random_values(int64_t n, Generator& gen) {
  std::vector<double> v(n);
  for (auto& x : v) x = gen.normal();
  return v;
}

// Channels 2 and width 3: the flatten order (C,H,W) differs from the channels-last memory order, so the
// perturbation must come back in logical order to match w_l − w_k.
const Shape kImageShape{1, 2, 1, 3};

TEST(NcDeepFool, AffineModelStepsOnceToTheNearestBoundaryTimesOnePlusOvershoot) {
  Generator gen(11);
  AffineNet net(6, 5, gen);
  to_f64(net);
  DeepFoolOptions exact;
  exact.step_epsilon = 0;  // the pure closed form
  for (int trial = 0; trial < 10; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const std::vector<double> x = random_values(6, gen);
    const Tensor image = f64_tensor(x, kImageShape);
    const int64_t k = predicted_class(net, image);
    const AffineBoundary boundary = nearest_affine_boundary(net.classifier(), x, k, {});

    const DeepFoolResult r = deepfool(net, image, k, exact);
    EXPECT_TRUE(r.fooled);
    EXPECT_EQ(r.iterations, 1);
    EXPECT_EQ(r.original_class, k);
    EXPECT_EQ(r.final_class, boundary.cls);
    EXPECT_NEAR(r.perturbation_norm, 1.02 * boundary.distance, 1e-12 * boundary.distance);
    double x_sq = 0;
    for (double v : x) x_sq += v * v;
    EXPECT_NEAR(r.image_norm, std::sqrt(x_sq), 1e-14);
    EXPECT_NEAR(r.relative_perturbation(), 1.02 * boundary.distance / std::sqrt(x_sq), 1e-12);
    // r = 1.02 · |f'| / ‖w'‖² · w', element by element in (C,H,W) order.
    const std::vector<double> p = r.perturbation.to_double_vector();
    ASSERT_EQ(p.size(), 6u);
    for (size_t j = 0; j < 6; ++j)
      EXPECT_NEAR(p[j], 1.02 * std::abs(boundary.gap) / (boundary.w_norm * boundary.w_norm) * boundary.w_diff[j],
                  1e-12);

    // The reference implementation's ε = 1e-4 added to |f'| lengthens the step by ε/‖w'‖.
    const DeepFoolResult with_epsilon = deepfool(net, image, k);
    EXPECT_EQ(with_epsilon.iterations, 1);
    EXPECT_NEAR(with_epsilon.perturbation_norm, 1.02 * (boundary.distance + 1e-4 / boundary.w_norm), 1e-12);
  }
}

TEST(NcDeepFool, CandidateClassesRestrictTheSearchToTheTopLogits) {
  Generator gen(12);
  AffineNet net(6, 8, gen);
  to_f64(net);
  DeepFoolOptions top2;
  top2.step_epsilon = 0;
  top2.candidate_classes = 2;  // the predicted class and the runner-up only
  for (int trial = 0; trial < 10; ++trial) {
    const std::vector<double> x = random_values(6, gen);
    const Tensor image = f64_tensor(x, kImageShape);
    const std::vector<double> z = net(Variable(image)).data().to_double_vector();
    std::vector<int64_t> order(z.size());
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return z[a] > z[b]; });
    const AffineBoundary runner_up = nearest_affine_boundary(net.classifier(), x, order[0], {order[1]});
    const DeepFoolResult r = deepfool(net, image, order[0], top2);
    EXPECT_TRUE(r.fooled);
    EXPECT_EQ(r.iterations, 1);
    EXPECT_NEAR(r.perturbation_norm, 1.02 * runner_up.distance, 1e-12 * runner_up.distance);
  }
}

TEST(NcDeepFool, UnchangeableDecisionHitsTheIterationCap) {
  Generator gen(13);
  UnfoolableNet net(gen);
  const Tensor image = f64_tensor({0.5}, {1, 1, 1, 1});
  const std::vector<double> z = net(Variable(image)).data().to_double_vector();
  ASSERT_EQ(z[0], 1.5);  // the model is the one described: f_0 = |x| + 1, f_1 = 0
  ASSERT_EQ(z[1], 0.0);
  DeepFoolOptions options;
  options.max_iter = 7;
  const DeepFoolResult r = deepfool(net, image, 0, options);
  EXPECT_FALSE(r.fooled);
  EXPECT_EQ(r.iterations, 7);
  EXPECT_EQ(r.final_class, 0);
  EXPECT_GT(r.perturbation_norm, 0.0);

  options.max_iter = 0;
  const DeepFoolResult none = deepfool(net, image, 0, options);
  EXPECT_FALSE(none.fooled);
  EXPECT_EQ(none.iterations, 0);
  EXPECT_EQ(none.perturbation_norm, 0.0);
}

TEST(NcDeepFool, AClassTheModelDoesNotPredictNeedsNoPerturbation) {
  Generator gen(14);
  AffineNet net(6, 3, gen);
  to_f64(net);
  const Tensor image = f64_tensor(random_values(6, gen), kImageShape);
  const int64_t other = (predicted_class(net, image) + 1) % 3;
  const DeepFoolResult r = deepfool(net, image, other);
  EXPECT_TRUE(r.fooled);
  EXPECT_EQ(r.iterations, 0);
  EXPECT_EQ(r.perturbation_norm, 0.0);
}

TEST(NcDeepFool, LeavesParametersWithoutGradientsAndRestoresTheMode) {
  Generator gen(15);
  AffineNet net(6, 4, gen);  // float32: the default backend
  net.train();
  const Tensor image = Tensor::from_vector(std::vector<float>{1, -2, 0.5f, 3, 0, -1}, kImageShape);
  const DeepFoolResult r = deepfool(net, image, predicted_class(net, image));
  EXPECT_TRUE(r.fooled);
  EXPECT_TRUE(net.is_training());
  for (const auto& p : net.parameters()) {
    EXPECT_TRUE(p.requires_grad());
    EXPECT_FALSE(p.grad().defined());
  }
  EXPECT_EQ(r.perturbation.dtype(), DType::f32);
}

// With fewer than 100 test images the measurement takes them all: its mean is then the closed-form mean
// over the whole set, whatever the draw.
TEST(NcDeepFool, MeasurementAveragesOverEveryImageOfASmallTestSet) {
  const MeasurementInfo& info = find_measurement("deepfool");
  EXPECT_FALSE(info.default_on);
  Generator gen(16);
  AffineNet net(3, 4, gen);
  to_f64(net);
  const int64_t n = 7;
  std::vector<float> values;
  for (int64_t i = 0; i < 3 * n; ++i) values.push_back(static_cast<float>(gen.normal()));
  auto test_set = std::make_shared<MemoryDataset>(ImageShape{1, 1, 3}, 4, values, std::vector<int64_t>(n, 0));
  DataLoader test(test_set, LoaderOptions::evaluation(4));

  double expected = 0;
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<double> x(values.begin() + 3 * i, values.begin() + 3 * i + 3);
    const Tensor image = f64_tensor(x, {1, 1, 1, 3});
    const AffineBoundary b = nearest_affine_boundary(net.classifier(), x, predicted_class(net, image), {});
    expected += 1.02 * (b.distance + 1e-4 / b.w_norm) / std::sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]) / n;
  }

  const CollapseMetrics metrics;
  MeasurementContext ctx{net, test, &test, Device::cpu(), 1, 42, metrics};
  const nlohmann::json j = info.fn(ctx);
  EXPECT_EQ(j.at("images").get<int64_t>(), n);
  EXPECT_EQ(j.at("unfooled").get<int64_t>(), 0);
  EXPECT_DOUBLE_EQ(j.at("overshoot").get<double>(), 0.02);
  EXPECT_EQ(j.at("max_iter").get<int>(), 50);
  EXPECT_NEAR(j.at("mean_relative_perturbation").get<double>(), expected, 1e-12);
}

}  // namespace
}  // namespace collapse::nc
