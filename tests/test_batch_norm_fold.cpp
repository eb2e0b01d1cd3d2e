// Evaluation's convolution -> batch norm folded into one convolution (layers/batch_norm_fold.h) and the
// conv2d_relu_forward kernel it runs: the fold's arithmetic, its float64 equality with the two steps, the
// models' evaluation against the unfolded pass, when a pair folds, and that a changed parameter or
// statistic is folded again.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "autograd/functional.h"
#include "core/profiler.h"
#include "layers/layers.h"
#include "layers/models/network.h"
#include "optim/sgd.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

constexpr MemoryFormat kCL = MemoryFormat::channels_last;

Tensor values(const std::vector<double>& v, const Shape& shape) { return tensor_from_values(v, shape, DType::f32); }

// Random affine parameters and running statistics (variances in [0.25, 2.25]), so that no fold is the
// identity.
void randomise(BatchNorm& bn, Generator& gen) {
  const int64_t c = bn.weight.data().numel();
  bn.weight.data().copy_(random_tensor({c}, DType::f32, gen));
  bn.bias.data().copy_(random_tensor({c}, DType::f32, gen));
  bn.running_mean.copy_(random_tensor({c}, DType::f32, gen));
  const std::vector<double> u = random_tensor({c}, DType::f64, gen).to_double_vector();
  std::vector<double> var;
  for (double v : u) var.push_back(1.25 + v);  // random_tensor draws in [-1, 1)
  bn.running_var.copy_(tensor_from_values(var, {c}));
}

// Calls of one kernel slot recorded by the profiler while `run` ran.
int64_t calls_of(const std::string& op, const std::function<void()>& run) {
  profile::reset();
  profile::enable(true);
  run();
  profile::enable(false);
  for (const profile::Row& row : profile::snapshot().by_op)
    if (row.name == op) return row.calls;
  return 0;
}

TEST(BatchNormFold, KnownAnswer) {
  // s = gamma / sqrt(var + eps) = [2 / 2, 0.5 / 2] with var 3 and eps 1.
  const Tensor w = values({1, 2, 3, 4}, {2, 1, 1, 2});
  const Tensor gamma = values({2, 0.5}, {2}), beta = values({1, -1}, {2});
  const Tensor mean = values({1, 2}, {2}), var = values({3, 3}, {2});
  const FoldedConv plain = fold_batch_norm(w, Tensor(), gamma, beta, mean, var, 1.0);
  expect_close(plain.weight, values({1, 2, 0.75, 1}, {2, 1, 1, 2}), 0, 0, "w'");
  expect_close(plain.bias, values({0, -1.5}, {2}), 0, 0, "b' = beta - mean s");
  const FoldedConv biased = fold_batch_norm(w, values({0.5, 4}, {2}), gamma, beta, mean, var, 1.0);
  expect_close(biased.bias, values({0.5, -0.5}, {2}), 0, 0, "b' = beta + (b - mean) s");
  EXPECT_THROW(fold_batch_norm(w, Tensor(), values({1, 1, 1}, {3}), values({0, 0, 0}, {3}), values({0, 0, 0}, {3}),
                               values({1, 1, 1}, {3}), 1e-5),
               Error);
}

// In float64 on the reference backend the folded convolution is the convolution, the batch norm and the
// ReLU to rounding: the fold's algebra, with and without a convolution bias, with and without the ReLU.
TEST(BatchNormFold, Float64FoldIsConvolutionThenBatchNormThenRelu) {
  NoGradGuard no_grad;
  Generator gen(71);
  for (bool conv_bias : {false, true})
    for (bool relu_after : {false, true}) {
      SCOPED_TRACE(std::string(conv_bias ? "bias" : "no bias") + (relu_after ? ", relu" : ""));
      const Conv2dParams p{2, 1};
      const Tensor x = random_tensor({3, 4, 7, 6}, DType::f64, gen, kCL);
      const Tensor w = random_tensor({5, 4, 3, 3}, DType::f64, gen);
      const Tensor b = conv_bias ? random_tensor({5}, DType::f64, gen) : Tensor();
      const Tensor gamma = random_tensor({5}, DType::f64, gen), beta = random_tensor({5}, DType::f64, gen);
      Tensor mean = random_tensor({5}, DType::f64, gen), var = Tensor::full({5}, 0.7, DType::f64);
      Variable expected = batch_norm(conv2d(Variable(x), Variable(w), Variable(b), p), Variable(gamma),
                                     Variable(beta), mean, var, false, 0.1, 1e-5);
      if (relu_after) expected = relu(expected);
      const FoldedConv f = fold_batch_norm(w, b, gamma, beta, mean, var, 1e-5);
      const Variable folded = conv2d_inference(Variable(x), f.weight, f.bias, p, relu_after);
      EXPECT_LT(max_rel_error(folded.data(), expected.data()), 1e-13);
    }
}

// Which pairs fold: evaluation under NoGradGuard with no hook on either module. Training, gradients
// (DeepFool's evaluation pass) and hooks (which would see the convolution's output) keep the two steps.
TEST(BatchNormFold, FoldsOnlyInEvaluationWithoutGradientsOrHooks) {
  Generator gen(72);
  Conv2d conv(3, 4, 3, 1, 1, false, gen);
  BatchNorm2d bn(4);
  EXPECT_FALSE(bn.folds_after(conv));  // training, gradients on
  bn.eval();
  EXPECT_FALSE(bn.folds_after(conv));  // gradients on
  {
    NoGradGuard no_grad;
    EXPECT_TRUE(bn.folds_after(conv));
    bn.train();
    EXPECT_FALSE(bn.folds_after(conv));
    bn.eval();
    HookHandle hook = conv.register_forward_hook([](Module&, const Variable&, const Variable&) {});
    EXPECT_FALSE(bn.folds_after(conv));
  }
  NoGradGuard no_grad;
  EXPECT_THROW(bn.forward_folded(conv, Variable(random_tensor({1, 3, 4, 4}, DType::f32, gen, kCL)), true), Error);
}

// The models evaluate to the unfolded pass's numbers (a forward hook on every batch norm turns folding
// off), and the folded pass really runs folded: ResNet18 (Winograd convolutions handing their output
// over blocked, 1x1 downsamples), ResNet50 (bottlenecks) and VGG11 (a Sequential, GEMM convolutions at
// 2x2, batch norms in its classifier that follow no convolution).
TEST(BatchNormFold, ModelsEvaluateAsTheUnfoldedPass) {
  struct Case {
    std::string arch;
    int depth;
    int64_t folded_with_relu, folded_plain;  // conv2d_relu_forward calls; conv -> BatchNorm pairs
    int64_t not_after_conv;                  // batch norms after no convolution (VGG's classifier)
  };
  for (const Case& c : {Case{"resnet", 18, 9, 3, 0}, Case{"resnet", 50, 33, 4, 0}, Case{"vgg", 11, 8, 0, 2}}) {
    SCOPED_TRACE(c.arch + std::to_string(c.depth));
    Generator gen(73);
    NetworkPtr model = build_model({c.arch, c.depth, 0.5, 3, 32, 10}, gen);
    for (auto& [name, m] : model->named_modules())
      if (auto* bn = dynamic_cast<BatchNorm*>(m)) randomise(*bn, gen);
    model->eval();
    NoGradGuard no_grad;
    const Tensor x = random_tensor({4, 3, 32, 32}, DType::f32, gen, kCL);
    Tensor folded;
    EXPECT_EQ(calls_of("conv2d_relu_forward", [&] { folded = (*model)(Variable(x)).data(); }), c.folded_with_relu);
    EXPECT_EQ(calls_of("batch_norm_forward_eval", [&] { (*model)(Variable(x)); }), c.not_after_conv);
    std::vector<HookHandle> hooks;
    int64_t batch_norms = 0;
    for (auto& [name, m] : model->named_modules())
      if (dynamic_cast<BatchNorm*>(m)) {
        hooks.push_back(m->register_forward_hook([](Module&, const Variable&, const Variable&) {}));
        ++batch_norms;
      }
    Tensor unfolded;
    EXPECT_EQ(calls_of("conv2d_relu_forward", [&] { unfolded = (*model)(Variable(x)).data(); }), 0);
    EXPECT_EQ(calls_of("batch_norm_forward_eval", [&] { (*model)(Variable(x)); }), c.folded_plain + c.not_after_conv);
    EXPECT_GT(batch_norms, c.folded_with_relu);
    EXPECT_LT(max_rel_error(folded, unfolded), 1e-5);
    // COLLAPSE_FOLD_BATCH_NORM=0 gives the unfolded pass's numbers exactly.
    for (HookHandle& h : hooks) h.remove();
    BatchNormFoldingGuard no_folding(false);
    Tensor switched_off;
    EXPECT_EQ(calls_of("conv2d_relu_forward", [&] { switched_off = (*model)(Variable(x)).data(); }), 0);
    expect_close(switched_off, unfolded, 0, 0, "folding switched off");
  }
}

// The fold is kept between batches and made again when any tensor it comes from changes: the running
// statistics of a training-mode pass, an optimizer step on the weights, a copy_ into a statistic, a
// parameter replaced by another tensor.
TEST(BatchNormFold, FoldsAgainWhenAParameterOrStatisticChanges) {
  Generator gen(74);
  auto conv = std::make_shared<Conv2d>(3, 16, 3, 1, 1, true, gen);
  auto bn = std::make_shared<BatchNorm2d>(16);
  randomise(*bn, gen);
  Sequential pair{conv, bn};
  const Tensor x = random_tensor({2, 3, 6, 6}, DType::f32, gen, kCL);
  auto unfolded = [&] {
    NoGradGuard no_grad;
    const Variable h = conv2d(Variable(x), Variable(conv->weight.data()), Variable(conv->bias.data()), conv->params);
    return batch_norm(h, Variable(bn->weight.data()), Variable(bn->bias.data()), bn->running_mean, bn->running_var,
                      false, bn->momentum, bn->eps)
        .data();
  };
  auto expect_folded_is_unfolded = [&](const std::string& after) {
    pair.eval();
    NoGradGuard no_grad;
    const Tensor folded = pair(Variable(x)).data();
    EXPECT_LT(max_rel_error(folded, unfolded()), 1e-5) << after;
    EXPECT_GT(max_rel_error(folded, Tensor::zeros(folded.shape())), 0.0) << after;
  };
  expect_folded_is_unfolded("the first fold");
  pair.train();
  pair(Variable(x));  // new running statistics, no parameter changed
  expect_folded_is_unfolded("a training-mode pass");
  SGD sgd(pair.parameters(), {0.5, 0.0, 0.0});
  pair.train();
  Variable y = pair(Variable(x));
  y.backward(random_tensor(y.shape(), DType::f32, gen, kCL));
  sgd.step();
  expect_folded_is_unfolded("an optimizer step");
  bn->running_var.copy_(Tensor::full({16}, 3.0));
  expect_folded_is_unfolded("copy_ into the running variance");
  bn->weight = Variable(random_tensor({16}, DType::f32, gen), true);
  expect_folded_is_unfolded("gamma replaced");
  bn->eps = 0.5;
  expect_folded_is_unfolded("eps changed");
}

}  // namespace
