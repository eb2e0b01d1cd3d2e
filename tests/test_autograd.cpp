// Autograd engine: accumulation, shared inputs, diamonds, deep chains, no-grad, input gradients.
// Everything runs in float64 (the reference backend) so values can be compared exactly.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "autograd/functional.h"

using namespace collapse;

namespace {
Tensor vec(std::vector<double> v) { return Tensor::from_vector(v, {static_cast<int64_t>(v.size())}).view({1, static_cast<int64_t>(v.size())}); }
Variable leaf(std::vector<double> v) { return Variable(vec(std::move(v)), true); }
}  // namespace

TEST(Autograd, SharedInputAccumulates) {
  Variable x = leaf({1.0, -2.0, 3.0});
  Variable y = add(mul_scalar(x, 2.0), mul_scalar(x, 3.0));  // dy/dx = 5
  y.backward(Tensor::full({1, 3}, 1.0, DType::f64));
  EXPECT_EQ(x.grad().to_double_vector(), (std::vector<double>{5, 5, 5}));
}

TEST(Autograd, AddOfSameVariableDoesNotAliasGradients) {
  Variable x = leaf({1.0, 2.0});
  Variable y = add(x, x);  // the node hands one tensor to both edges; the engine must copy before adding
  Tensor seed = Tensor::full({1, 2}, 1.0, DType::f64);
  y.backward(seed);
  EXPECT_EQ(x.grad().to_double_vector(), (std::vector<double>{2, 2}));
  EXPECT_EQ(seed.to_double_vector(), (std::vector<double>{1, 1}));  // the seed itself is untouched
}

TEST(Autograd, DiamondGraph) {
  // a = relu(x); b = 2a; c = 3a; y = b + c  =>  dy/dx = 5 where x > 0, else 0
  Variable x = leaf({1.5, -0.5, 2.0});
  Variable a = relu(x);
  Variable y = add(mul_scalar(a, 2.0), mul_scalar(a, 3.0));
  y.backward(Tensor::full({1, 3}, 1.0, DType::f64));
  EXPECT_EQ(x.grad().to_double_vector(), (std::vector<double>{5, 0, 5}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCallsUntilZeroed) {
  Variable x = leaf({1.0});
  mul_scalar(x, 4.0).backward();
  mul_scalar(x, 4.0).backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 8.0);
  x.zero_grad();
  mul_scalar(x, 4.0).backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 4.0);
}

TEST(Autograd, DeepChainDoesNotOverflowTheStack) {
  Variable x = leaf({1.0});
  Variable h = x;
  for (int i = 0; i < 100000; ++i) h = mul_scalar(h, 1.0);
  h.backward();
  EXPECT_DOUBLE_EQ(x.grad().item(), 1.0);
  h = Variable();  // destroying the 100,000-node graph must not recurse either
  SUCCEED();
}

TEST(Autograd, NoGradGuardBuildsNoGraph) {
  Variable x = leaf({1.0, 2.0});
  {
    NoGradGuard guard;
    Variable y = mul_scalar(x, 2.0);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_FALSE(y.grad_fn());
    EXPECT_THROW(y.backward(), Error);
  }
  EXPECT_TRUE(mul_scalar(x, 2.0).requires_grad());
}

TEST(Autograd, OnlyRequestedLeavesGetGradients) {
  Variable w = leaf({2.0, 3.0});
  Variable x(vec({5.0, 7.0}), false);
  Variable y = add(w, x);
  y.backward(Tensor::full({1, 2}, 1.0, DType::f64));
  EXPECT_TRUE(w.grad().defined());
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, InputGradientThroughLinearAndCrossEntropy) {
  // d/dx CE(Wx + b, y) = Wᵀ (softmax - onehot) for one example: compare with the closed form.
  Tensor wt = Tensor::from_vector(std::vector<double>{1, 2, -1, 0.5, 0, 1}, {3, 2});
  Variable w(wt, false), b(Tensor::zeros({3}, DType::f64), false);
  Variable x = leaf({0.3, -0.7});
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{2}, {1});
  Variable loss = cross_entropy(linear(x, w, b), labels);
  loss.backward();
  const std::vector<double> z = {1 * 0.3 + 2 * -0.7, -1 * 0.3 + 0.5 * -0.7, 0 * 0.3 + 1 * -0.7};
  double m = std::max({z[0], z[1], z[2]}), s = 0;
  for (double v : z) s += std::exp(v - m);
  std::vector<double> p(3);
  for (int i = 0; i < 3; ++i) p[i] = std::exp(z[i] - m) / s;
  p[2] -= 1;
  const std::vector<double> expect = {1 * p[0] - 1 * p[1] + 0 * p[2], 2 * p[0] + 0.5 * p[1] + 1 * p[2]};
  auto g = x.grad().to_double_vector();
  EXPECT_NEAR(g[0], expect[0], 1e-12);
  EXPECT_NEAR(g[1], expect[1], 1e-12);
}

TEST(Autograd, BackwardOfNonScalarNeedsASeed) {
  Variable x = leaf({1.0, 2.0});
  EXPECT_THROW(mul_scalar(x, 2.0).backward(), Error);
}

TEST(Autograd, RetainGraphAllowsASecondBackward) {
  Variable x = leaf({1.0, -2.0});
  Variable y = relu(mul_scalar(x, 3.0));
  y.backward(Tensor::full({1, 2}, 1.0, DType::f64), /*retain_graph=*/true);
  y.backward(Tensor::full({1, 2}, 1.0, DType::f64));
  EXPECT_EQ(x.grad().to_double_vector(), (std::vector<double>{6, 0}));
}
