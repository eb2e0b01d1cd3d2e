// SGD against hand-computed steps, the multi-step schedule, and optimizer state round trips.
#include <gtest/gtest.h>

#include "optim/sgd.h"

using namespace collapse;

namespace {
// One scalar parameter with a constant gradient, stepped `steps` times.
double run_sgd(SgdOptions o, int steps, double grad = 0.5, double start = 1.0) {
  Variable p(Tensor::full({1}, start, DType::f64), true);
  SGD sgd({p}, o);
  for (int i = 0; i < steps; ++i) {
    p.set_grad(Tensor::full({1}, grad, DType::f64));
    sgd.step();
  }
  return p.data().item();
}
}  // namespace

TEST(SGD, MomentumAndWeightDecayByHand) {
  // g' = g + λp; v = μv + g'; p -= lr·v, with p0 = 1, g = 0.5, lr 0.1, μ 0.9, λ 0.01:
  // step 1: g' = 0.51, v = 0.51, p = 0.949
  // step 2: g' = 0.5 + 0.00949 = 0.50949, v = 0.459 + 0.50949 = 0.96849, p = 0.949 - 0.096849 = 0.852151
  SgdOptions o{0.1, 0.9, 0.01, false};
  EXPECT_NEAR(run_sgd(o, 1), 0.949, 1e-15);
  EXPECT_NEAR(run_sgd(o, 2), 0.852151, 1e-15);
}

TEST(SGD, NesterovByHand) {
  // step 1: g' = 0.51, v = 0.51, update = g' + μv = 0.969, p = 1 - 0.0969 = 0.9031
  EXPECT_NEAR(run_sgd({0.1, 0.9, 0.01, true}, 1), 0.9031, 1e-15);
}

TEST(SGD, PlainGradientDescent) { EXPECT_NEAR(run_sgd({0.5, 0.0, 0.0, false}, 3, 0.2), 1.0 - 3 * 0.1, 1e-15); }

TEST(SGD, ParametersWithoutGradientsAreLeftAlone) {
  Variable a(Tensor::full({2}, 1.0, DType::f64), true), b(Tensor::full({2}, 1.0, DType::f64), true);
  SGD sgd({a, b}, {0.1, 0.9, 0.1, false});
  a.set_grad(Tensor::full({2}, 1.0, DType::f64));
  sgd.step();
  EXPECT_EQ(b.data().to_double_vector(), (std::vector<double>{1.0, 1.0}));
  EXPECT_NE(a.data().to_double_vector(), (std::vector<double>{1.0, 1.0}));
}

TEST(SGD, StateDictRoundTripContinuesIdentically) {
  SgdOptions o{0.1, 0.9, 0.01, false};
  Variable p1(Tensor::full({3}, 1.0, DType::f64), true);
  SGD s1({p1}, o);
  for (int i = 0; i < 2; ++i) {
    p1.set_grad(Tensor::full({3}, 0.5, DType::f64));
    s1.step();
  }
  Variable p2(p1.data().clone(), true);
  SGD s2({p2}, o);
  s2.load_state_dict(s1.state_dict());
  EXPECT_EQ(s2.steps(), 2);
  p1.set_grad(Tensor::full({3}, 0.5, DType::f64));
  p2.set_grad(Tensor::full({3}, 0.5, DType::f64));
  s1.step();
  s2.step();
  EXPECT_EQ(p1.data().to_double_vector(), p2.data().to_double_vector());
  NamedTensors wrong = s1.state_dict();
  wrong[0].second = Tensor::zeros({4}, DType::f64);
  EXPECT_THROW(s2.load_state_dict(wrong), Error);
}

TEST(SGD, BadOptionsAreErrors) {
  Variable p(Tensor::full({1}, 1.0), true);
  EXPECT_THROW(SGD({p}, SgdOptions{-1, 0.9, 0, false}), Error);
  EXPECT_THROW(SGD({p}, SgdOptions{0.1, 0.0, 0, true}), Error);
}

TEST(MultiStepLR, DividesAfterEachMilestone) {
  MultiStepLR s(0.1, {6, 3});
  for (int e : {1, 2, 3}) EXPECT_DOUBLE_EQ(s.lr_for_epoch(e), 0.1) << e;
  for (int e : {4, 5, 6}) EXPECT_NEAR(s.lr_for_epoch(e), 0.01, 1e-17) << e;
  EXPECT_NEAR(s.lr_for_epoch(7), 0.001, 1e-18);
  EXPECT_NEAR(s.lr_for_epoch(350), 0.001, 1e-18);
}
