// The training losses (backends/classification_loss.h) and the fixed simplex-ETF classifier
// (layers/fixed_etf_classifier.h): gradients against finite differences in double, known values, the cpu
// registration against the reference in double, argument errors; and one nc-experiment run per loss.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "autograd/functional.h"
#include "layers/fixed_etf_classifier.h"
#include "optim/sgd.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

double loss_value(const Tensor& logits, const Tensor& labels, const LossSpec& spec) {
  NoGradGuard no_grad;
  return classification_loss(Variable(logits), labels, spec).data().item();
}

const std::vector<LossSpec> kSpecs = {
    {LossKind::label_smoothing, 0.1, 0, 1}, {LossKind::label_smoothing, 0.6, 0, 1}, {LossKind::focal, 0, 0.0, 1},
    {LossKind::focal, 0, 2.0, 1},           {LossKind::focal, 0, 0.5, 1},           {LossKind::mse, 0, 0, 1},
    {LossKind::mse, 0, 0, 5.0}};

std::string describe(const LossSpec& s) {
  return std::string(loss_name(s.kind)) + " a=" + std::to_string(s.smoothing) + " g=" + std::to_string(s.gamma) +
         " k=" + std::to_string(s.target);
}

}  // namespace

TEST(Losses, GradientsMatchFiniteDifferencesInDouble) {
  Generator gen(31);
  for (const LossSpec& spec : kSpecs) {
    SCOPED_TRACE(describe(spec));
    const Tensor logits = random_tensor({5, 4}, DType::f64, gen, MemoryFormat::contiguous, -3.0, 3.0);
    const Tensor labels = random_labels(5, 4, gen);
    Variable z(logits, true);
    classification_loss(z, labels, spec).backward();
    expect_gradient_matches([&] { return loss_value(logits, labels, spec); }, logits, z.grad(), 1e-6, "dlogits");
  }
}

TEST(Losses, KnownValues) {
  const Tensor logits = Tensor::from_vector(std::vector<double>{2.0, -1.0, 0.5, 0.0, 1.0, 3.0}, {2, 3});
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 2}, {2});
  const double ce = loss_value(logits, labels, {});
  // Label smoothing with α = 0 and focal with γ = 0 are the cross-entropy.
  EXPECT_NEAR(loss_value(logits, labels, {LossKind::label_smoothing, 0.0, 0, 1}), ce, 1e-14);
  EXPECT_NEAR(loss_value(logits, labels, {LossKind::focal, 0, 0.0, 1}), ce, 1e-14);
  // By hand: row 0 log-sum-exp, row 1 log-sum-exp.
  const double lse0 = std::log(std::exp(2.0) + std::exp(-1.0) + std::exp(0.5));
  const double lse1 = std::log(std::exp(0.0) + std::exp(1.0) + std::exp(3.0));
  EXPECT_NEAR(ce, ((lse0 - 2.0) + (lse1 - 3.0)) / 2, 1e-14);
  const double ls = ((0.7 * (lse0 - 2.0) + 0.3 * (3 * lse0 - 1.5) / 3) + (0.7 * (lse1 - 3.0) + 0.3 * (3 * lse1 - 4.0) / 3)) / 2;
  EXPECT_NEAR(loss_value(logits, labels, {LossKind::label_smoothing, 0.3, 0, 1}), ls, 1e-14);
  const double p0 = std::exp(2.0 - lse0), p1 = std::exp(3.0 - lse1);
  EXPECT_NEAR(loss_value(logits, labels, {LossKind::focal, 0, 2.0, 1}),
              (std::pow(1 - p0, 2) * (lse0 - 2.0) + std::pow(1 - p1, 2) * (lse1 - 3.0)) / 2, 1e-14);
  // ½‖z − 2e_y‖² per row: row 0 (0, −1, 0.5) → 1.25/2; row 1 (0, 1, 1) → 2/2.
  EXPECT_NEAR(loss_value(logits, labels, {LossKind::mse, 0, 0, 2.0}), (0.625 + 1.0) / 2, 1e-14);
}

TEST(Losses, CpuFloatMatchesTheDoubleReference) {
  Generator gen(32);
  for (const LossSpec& spec : kSpecs) {
    SCOPED_TRACE(describe(spec));
    const Tensor logits = random_tensor({16, 10}, DType::f64, gen, MemoryFormat::contiguous, -4.0, 4.0);
    const Tensor labels = random_labels(16, 10, gen);
    Variable z64(logits, true), z32(logits.to(DType::f32), true);
    Variable l64 = classification_loss(z64, labels, spec), l32 = classification_loss(z32, labels, spec);
    l64.backward();
    l32.backward();
    EXPECT_NEAR(l32.data().item(), l64.data().item(), 1e-5 * std::max(1.0, std::abs(l64.data().item())));
    expect_close(z32.grad().to(DType::f64), z64.grad(), 1e-4, 1e-6, "dlogits");
  }
}

TEST(Losses, BadArgumentsAreRefused) {
  const Tensor logits = Tensor::zeros({2, 3});
  expect_error_containing(
      [&] { classification_loss(Variable(logits), Tensor::from_vector(std::vector<int64_t>{0, 3}, {2}), {LossKind::mse, 0, 0, 1}); },
      {"label 3", "out of range"});
  expect_error_containing(
      [&] { classification_loss(Variable(logits), Tensor::from_vector(std::vector<int64_t>{0, 1}, {2}), {LossKind::label_smoothing, 1.0, 0, 1}); },
      {"--label-smoothing"});
  expect_error_containing([] { loss_kind("hinge"); }, {"unknown loss 'hinge'", "mse"});
}

TEST(FixedEtfClassifier, IsASimplexEtfAndStaysFixed) {
  for (const auto& [C, p] : {std::pair<int64_t, int64_t>{10, 64}, {4, 3}, {2, 1}}) {
    SCOPED_TRACE("C=" + std::to_string(C) + " p=" + std::to_string(p));
    Generator gen(33);
    Linear classifier(p, C, gen);
    fix_to_simplex_etf(classifier, gen);
    const Tensor w = classifier.weight.data().to(DType::f64);
    for (int64_t a = 0; a < C; ++a) {
      double norm = 0;
      for (int64_t j = 0; j < p; ++j) norm += w.at({a, j}) * w.at({a, j});
      EXPECT_NEAR(norm, 1.0, 1e-6);
      for (int64_t b = a + 1; b < C; ++b) {
        double dot_ab = 0;
        for (int64_t j = 0; j < p; ++j) dot_ab += w.at({a, j}) * w.at({b, j});
        EXPECT_NEAR(dot_ab, -1.0 / (C - 1), 1e-6);
      }
    }
    EXPECT_FALSE(classifier.weight.requires_grad());
    EXPECT_EQ(classifier.bias.data().to_double_vector(), std::vector<double>(C, 0.0));
    // A training step moves nothing of it.
    SGD sgd(classifier.parameters(), {0.1, 0.9, 5e-4, false});
    Variable x(random_tensor({3, p}, DType::f32, gen), true);
    cross_entropy(classifier(x), random_labels(3, C, gen)).backward();
    sgd.step();
    expect_close(classifier.weight.data().to(DType::f64), w, 0, 0, "W after a step");
  }
  Generator gen(34);
  Linear narrow(2, 10, gen);
  expect_error_containing([&] { fix_to_simplex_etf(narrow, gen); }, {"p = 2", "C - 1 = 9"});
}

// Each loss, and the fixed classifier, through nc-experiment on real MNIST: the run finishes and records them.
TEST(Losses, NcExperimentRunsEachLoss) {
  const std::string data = COLLAPSE_SHARED_DATASETS;
  if (!std::filesystem::exists(data + "/mnist")) GTEST_SKIP() << "no " << data << "/mnist";
  for (const std::string extra : {"--loss mse --mse-target 2", "--loss label-smoothing --label-smoothing 0.2",
                                  "--loss focal --focal-gamma 1.5 --fixed-etf-classifier"}) {
    SCOPED_TRACE(extra);
    const auto dir = std::filesystem::temp_directory_path() / "collapse_losses_run";
    std::filesystem::remove_all(dir);
    const std::string cmd = "OMP_NUM_THREADS=1 " + std::string(COLLAPSE_BINARY_DIR) + "/nc-experiment --dataset mnist "
                            "--data-root " + data + " --arch resnet --depth 18 --width 0.125 --per-class 10 "
                            "--test-per-class 5 --epochs 3 --batch-size 20 --measure-epochs 0,3 --quiet " + extra +
                            " --out " + dir.string() + " > " + dir.string() + ".log 2>&1";
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
    std::ifstream in(dir / "config.json");
    const nlohmann::json config = nlohmann::json::parse(in);
    EXPECT_EQ(config["loss"], extra.substr(7, extra.find(' ', 7) - 7));
    EXPECT_EQ(config["fixed_etf_classifier"], extra.find("fixed") != std::string::npos);
    std::filesystem::remove_all(dir);
  }
}
