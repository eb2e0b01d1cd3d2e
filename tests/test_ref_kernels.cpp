// Tests of the reference backend (backends/ref/): every backward kernel against central finite
// differences in float64, a few forward results computed by hand, float32 against float64, and the
// error messages of bad calls.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "backends/kernels.h"
#include "tests/testing/gradcheck.h"

namespace collapse {
namespace {

using testing::distinct_random_tensor;
using testing::dot;
using testing::expect_close;
using testing::expect_error_containing;
using testing::expect_gradient_matches;
using testing::random_labels;
using testing::random_tensor;
using testing::random_tensor_away_from_zero;
using testing::tensor_from_values;

// Gradient checks in float64 with step 1e-6 agree to ~1e-9; 1e-6 leaves room for curvature.
constexpr double kGradTol = 1e-6;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;
constexpr MemoryFormat kChannelsLast = MemoryFormat::channels_last;
const MemoryFormat kLayouts[] = {kChannelsLast, kRowMajor};

// The reference implementation of a slot (after its argument rules), whatever the dispatch rules would pick.
template <class Fn>
auto ref_kernel(const Kernel<Fn>& kernel) {
  return kernel.on(Impl::ref);
}

// Outputs go in the other layout than the inputs, so reads and writes through strides are both exercised.
MemoryFormat other(MemoryFormat f) { return f == kRowMajor ? kChannelsLast : kRowMajor; }
const char* layout_name(MemoryFormat f) { return f == kRowMajor ? "row-major" : "channels-last"; }

Tensor empty64(const Shape& shape, MemoryFormat format = kRowMajor) {
  return Tensor::empty(shape, DType::f64, Device::cpu(), format);
}
// 4-D shapes take `format`; others are row-major (channels-last exists for 4-D only).
MemoryFormat format_for(const Shape& shape, MemoryFormat format) { return shape.size() == 4 ? format : kRowMajor; }

// ------------------------------------------------------------------------------------------- conv2d

struct ConvCase {
  int64_t N, Ci, H, W, Co, k, stride, padding;
  bool bias;
};
std::string describe(const ConvCase& c, MemoryFormat f) {
  return "x [" + std::to_string(c.N) + "," + std::to_string(c.Ci) + "," + std::to_string(c.H) + "," +
         std::to_string(c.W) + "] Co " + std::to_string(c.Co) + " k " + std::to_string(c.k) + " stride " +
         std::to_string(c.stride) + " padding " + std::to_string(c.padding) + (c.bias ? " bias " : " no-bias ") +
         layout_name(f);
}

const ConvCase kConvCases[] = {
    {1, 1, 5, 5, 1, 3, 1, 0, true},  {2, 3, 7, 6, 4, 3, 2, 1, true}, {1, 2, 6, 5, 3, 1, 1, 0, false},
    {3, 2, 5, 7, 2, 2, 2, 0, true},  {2, 2, 4, 4, 3, 3, 1, 1, false}, {1, 3, 9, 8, 2, 5, 2, 1, true},
    {2, 1, 3, 3, 2, 3, 2, 1, true},  {2, 2, 5, 4, 3, 1, 2, 1, true},  // 1x1 kernel over padding only at the border
};

TEST(RefConv2d, GradientsMatchFiniteDifferences) {
  Generator gen(11);
  for (const ConvCase& c : kConvCases)
    for (MemoryFormat layout : kLayouts) {
      SCOPED_TRACE(describe(c, layout));
      const Conv2dParams p{c.stride, c.padding};
      const Shape y_shape{c.N, c.Co, conv_out_size(c.H, c.k, c.stride, c.padding),
                          conv_out_size(c.W, c.k, c.stride, c.padding)};
      Tensor x = random_tensor({c.N, c.Ci, c.H, c.W}, DType::f64, gen, layout);
      Tensor w = random_tensor({c.Co, c.Ci, c.k, c.k}, DType::f64, gen);
      Tensor b = c.bias ? random_tensor({c.Co}, DType::f64, gen) : Tensor();
      const Tensor r = random_tensor(y_shape, DType::f64, gen, other(layout));
      auto loss = [&] {
        Tensor y = empty64(y_shape, other(layout));
        ref_kernel(conv2d_forward)(x, w, b, p, y);
        return dot(y, r);
      };
      Tensor dx = empty64(x.shape(), other(layout));
      ref_kernel(conv2d_backward_data)(r, w, p, dx);
      Tensor dw = empty64(w.shape());
      Tensor db = c.bias ? empty64({c.Co}) : Tensor();
      ref_kernel(conv2d_backward_weights)(x, r, p, dw, db);
      expect_gradient_matches(loss, x, dx, kGradTol, "dx");
      expect_gradient_matches(loss, w, dw, kGradTol, "dw");
      if (c.bias) expect_gradient_matches(loss, b, db, kGradTol, "db");
    }
}

TEST(RefConv2d, OneChannelThreeByThreeByHand) {
  // x = 1..16 in a 4x4 plane, w = [[1,0,-1],[2,0,-2],[1,0,-1]] (Sobel), bias 0.5.
  std::vector<double> x_values(16);
  for (int i = 0; i < 16; ++i) x_values[i] = i + 1;
  const Tensor x = tensor_from_values(x_values, {1, 1, 4, 4}, DType::f64, kChannelsLast);
  const Tensor w = tensor_from_values({1, 0, -1, 2, 0, -2, 1, 0, -1}, {1, 1, 3, 3});
  const Tensor b = tensor_from_values({0.5}, {1});
  // Without padding each output is sum over rows of weight * (x[.., c] - x[.., c+2]) = 4 * (-2) = -8.
  Tensor y = empty64({1, 1, 2, 2});
  ref_kernel(conv2d_forward)(x, w, b, Conv2dParams{1, 0}, y);
  expect_close(y, tensor_from_values({-7.5, -7.5, -7.5, -7.5}, {1, 1, 2, 2}), 0, 1e-12, "padding 0");
  // Padding 1, stride 2: outputs at input centres (0,0), (0,2), (2,0), (2,2) of the zero-padded plane.
  //   (0,0): 2*(0-2) + 1*(0-6) = -10       (0,2): 2*(2-4) + 1*(6-8) = -6
  //   (2,0): 1*(0-6) + 2*(0-10) + 1*(0-14) = -40    (2,2): 1*(6-8) + 2*(10-12) + 1*(14-16) = -8
  Tensor y2 = empty64({1, 1, 2, 2}, kChannelsLast);
  ref_kernel(conv2d_forward)(x, w, Tensor(), Conv2dParams{2, 1}, y2);
  expect_close(y2, tensor_from_values({-10, -6, -40, -8}, {1, 1, 2, 2}), 0, 1e-12, "padding 1 stride 2");
}

// ------------------------------------------------------------------------------------------ batch norm

struct BatchNormInputs {
  Tensor x, gamma, beta;
};
BatchNormInputs random_batch_norm_inputs(const Shape& shape, MemoryFormat layout, Generator& gen) {
  const int64_t C = shape[1];
  return {random_tensor(shape, DType::f64, gen, format_for(shape, layout), -2.0, 3.0),
          random_tensor({C}, DType::f64, gen, kRowMajor, 0.5, 1.5), random_tensor({C}, DType::f64, gen)};
}

TEST(RefBatchNorm, TrainingGradientsMatchFiniteDifferences) {
  Generator gen(12);
  const double eps = 1e-5;
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{1, 2, 3, 3}, Shape{3, 1, 1, 1}, Shape{5, 4}, Shape{3, 2}})
    for (MemoryFormat layout : kLayouts) {
      if (shape.size() != 4 && layout == kChannelsLast) continue;  // one layout below 4-D
      SCOPED_TRACE(shape_str(shape) + " " + layout_name(layout));
      auto [x_, gamma_, beta_] = random_batch_norm_inputs(shape, layout, gen);
      const Tensor x = x_, gamma = gamma_, beta = beta_;  // plain variables: the lambdas capture them (clang 14)
      const int64_t C = shape[1];
      const Tensor r = random_tensor(shape, DType::f64, gen, format_for(shape, other(layout)));
      Tensor running_mean = Tensor::zeros({C}, DType::f64), running_var = Tensor::full({C}, 1.0, DType::f64);
      Tensor save_mean = empty64({C}), save_var = empty64({C});
      auto forward = [&] {
        Tensor y = empty64(shape, format_for(shape, other(layout)));
        ref_kernel(batch_norm_forward_train)(x, gamma, beta, running_mean, running_var, 0.1, eps, y, save_mean, save_var);
        return y;
      };
      forward();  // the saved statistics of the unperturbed x, for backward
      Tensor dx = empty64(shape, format_for(shape, layout)), dgamma = empty64({C}), dbeta = empty64({C});
      ref_kernel(batch_norm_backward)(r, x, gamma, save_mean, save_var, eps, dx, dgamma, dbeta);
      auto loss = [&] { return dot(forward(), r); };
      expect_gradient_matches(loss, x, dx, kGradTol, "dx");
      expect_gradient_matches(loss, gamma, dgamma, kGradTol, "dgamma");
      expect_gradient_matches(loss, beta, dbeta, kGradTol, "dbeta");
    }
}

TEST(RefBatchNorm, StatisticsAndRunningUpdateByHand) {
  // One channel holding 1, 2, 3, 6: mean 3, biased variance 14/4 = 3.5, unbiased 14/3.
  const Tensor x = tensor_from_values({1, 2, 3, 6}, {2, 1, 1, 2}, DType::f64, kChannelsLast);
  const Tensor gamma = tensor_from_values({2.0}, {1}), beta = tensor_from_values({0.5}, {1});
  Tensor running_mean = tensor_from_values({1.0}, {1}), running_var = tensor_from_values({2.0}, {1});
  Tensor y = empty64({2, 1, 1, 2}), save_mean = empty64({1}), save_var = empty64({1});
  const double eps = 1e-5, momentum = 0.1;
  ref_kernel(batch_norm_forward_train)(x, gamma, beta, running_mean, running_var, momentum, eps, y, save_mean, save_var);
  EXPECT_DOUBLE_EQ(save_mean.item(), 3.0);
  EXPECT_DOUBLE_EQ(save_var.item(), 3.5);
  EXPECT_DOUBLE_EQ(running_mean.item(), 0.9 * 1.0 + 0.1 * 3.0);
  EXPECT_DOUBLE_EQ(running_var.item(), 0.9 * 2.0 + 0.1 * 14.0 / 3.0);
  const double inv_std = 1.0 / std::sqrt(3.5 + eps);
  expect_close(y, tensor_from_values({-2 * 2 * inv_std + 0.5, -1 * 2 * inv_std + 0.5, 0.5, 3 * 2 * inv_std + 0.5},
                                     {2, 1, 1, 2}),
               1e-14, 1e-14, "y");

  // Eval normalises with the running statistics, which it leaves alone.
  Tensor y_eval = empty64({2, 1, 1, 2});
  ref_kernel(batch_norm_forward_eval)(x, gamma, beta, running_mean, running_var, eps, y_eval);
  const double rm = running_mean.item(), rv = running_var.item();
  std::vector<double> expected;
  for (double v : {1.0, 2.0, 3.0, 6.0}) expected.push_back(2.0 * (v - rm) / std::sqrt(rv + eps) + 0.5);
  expect_close(y_eval, tensor_from_values(expected, {2, 1, 1, 2}), 1e-14, 1e-14, "eval y");
  EXPECT_DOUBLE_EQ(running_mean.item(), rm);
}

TEST(RefBatchNorm, UndefinedParameterGradientsAreSkipped) {
  Generator gen(13);
  auto [x, gamma, beta] = random_batch_norm_inputs({3, 2}, kRowMajor, gen);
  Tensor rm = Tensor::zeros({2}, DType::f64), rv = Tensor::full({2}, 1.0, DType::f64);
  Tensor y = empty64({3, 2}), mean = empty64({2}), var = empty64({2});
  ref_kernel(batch_norm_forward_train)(x, gamma, beta, rm, rv, 0.1, 1e-5, y, mean, var);
  Tensor dx_full = empty64({3, 2}), dgamma = empty64({2}), dbeta = empty64({2}), dx = empty64({3, 2}), none;
  ref_kernel(batch_norm_backward)(y, x, gamma, mean, var, 1e-5, dx_full, dgamma, dbeta);
  ref_kernel(batch_norm_backward)(y, x, gamma, mean, var, 1e-5, dx, none, none);
  expect_close(dx, dx_full, 0, 0, "dx without parameter gradients");
}

// ------------------------------------------------------------------------------------------- pooling

struct PoolCase {
  int64_t N, C, H, W;
  Pool2dParams p;
};
std::string describe(const PoolCase& c, MemoryFormat f) {
  return "x " + shape_str({c.N, c.C, c.H, c.W}) + " kernel " + std::to_string(c.p.kernel) + " stride " +
         std::to_string(c.p.stride) + " padding " + std::to_string(c.p.padding) + " " + layout_name(f);
}
Shape pooled_shape(const PoolCase& c) {
  return {c.N, c.C, conv_out_size(c.H, c.p.kernel, c.p.stride, c.p.padding),
          conv_out_size(c.W, c.p.kernel, c.p.stride, c.p.padding)};
}

const PoolCase kPoolCases[] = {
    {1, 1, 4, 4, {2, 2, 0}}, {2, 3, 5, 7, {3, 2, 1}}, {2, 2, 6, 5, {3, 1, 1}},
    {1, 3, 7, 7, {2, 2, 1}}, {3, 2, 5, 5, {3, 3, 0}}, {1, 1, 1, 1, {1, 1, 0}},
};

TEST(RefMaxPool2d, GradientsMatchFiniteDifferences) {
  Generator gen(14);
  for (const PoolCase& c : kPoolCases)
    for (MemoryFormat layout : kLayouts) {
      SCOPED_TRACE(describe(c, layout));
      // Inputs at least 0.05 apart: no near-ties, so the argmax is stable under the 1e-6 step.
      Tensor x = distinct_random_tensor({c.N, c.C, c.H, c.W}, DType::f64, gen, layout);
      const Tensor r = random_tensor(pooled_shape(c), DType::f64, gen, other(layout));
      Tensor workspace;
      auto forward = [&] {
        Tensor y = empty64(pooled_shape(c), other(layout));
        ref_kernel(max_pool2d_forward)(x, c.p, y, workspace);
        return y;
      };
      forward();
      ASSERT_TRUE(workspace.defined());
      EXPECT_EQ(workspace.dtype(), DType::i64);
      EXPECT_EQ(workspace.shape(), pooled_shape(c));
      Tensor dx = empty64(x.shape(), other(layout));
      ref_kernel(max_pool2d_backward)(r, workspace, c.p, dx);
      expect_gradient_matches([&] { return dot(forward(), r); }, x, dx, kGradTol, "dx");
    }
}

TEST(RefMaxPool2d, ForwardByHandFirstMaximumWinsTies) {
  // Plane [[1, 5, 5, 0],          2x2 windows, stride 2:  max 5 at (0,1) (the first of two 5s),
  //        [2, 3, 5, 4],                                   max 5 at (0,2) (first of (0,2) and (1,2)),
  //        [7, 7, 0, 0],                                   max 7 at (2,0) (first of two 7s),
  //        [7, 6, -1, -2]]                                 max 0 at (2,2) (first of two 0s).
  const Tensor x =
      tensor_from_values({1, 5, 5, 0, 2, 3, 5, 4, 7, 7, 0, 0, 7, 6, -1, -2}, {1, 1, 4, 4}, DType::f64, kChannelsLast);
  Tensor y = empty64({1, 1, 2, 2}), workspace;
  ref_kernel(max_pool2d_forward)(x, Pool2dParams{2, 2, 0}, y, workspace);
  expect_close(y, tensor_from_values({5, 5, 7, 0}, {1, 1, 2, 2}), 0, 0, "y");
  EXPECT_EQ(workspace.to_double_vector(), (std::vector<double>{1, 2, 8, 10}));

  // The gradient goes to the winners only.
  Tensor dx = empty64({1, 1, 4, 4}, kChannelsLast);
  ref_kernel(max_pool2d_backward)(tensor_from_values({10, 20, 30, 40}, {1, 1, 2, 2}), workspace, Pool2dParams{2, 2, 0}, dx);
  EXPECT_EQ(dx.to_double_vector(), (std::vector<double>{0, 10, 20, 0, 0, 0, 0, 0, 30, 0, 40, 0, 0, 0, 0, 0}));
}

TEST(RefAvgPool2d, GradientsMatchFiniteDifferences) {
  Generator gen(15);
  for (const PoolCase& c : kPoolCases)
    for (MemoryFormat layout : kLayouts) {
      SCOPED_TRACE(describe(c, layout));
      Tensor x = random_tensor({c.N, c.C, c.H, c.W}, DType::f64, gen, layout);
      const Tensor r = random_tensor(pooled_shape(c), DType::f64, gen, other(layout));
      auto loss = [&] {
        Tensor y = empty64(pooled_shape(c), other(layout));
        ref_kernel(avg_pool2d_forward)(x, c.p, y);
        return dot(y, r);
      };
      Tensor dx = empty64(x.shape(), other(layout));
      ref_kernel(avg_pool2d_backward)(r, c.p, dx);
      expect_gradient_matches(loss, x, dx, kGradTol, "dx");
    }
}

TEST(RefAvgPool2d, PaddingCountsInTheDivisor) {
  // 2x2 plane of [[1,2],[3,4]], kernel 2, stride 2, padding 1: each window holds one real value and three
  // zeros of padding, and divides by 4 (count_include_pad=True).
  const Tensor x = tensor_from_values({1, 2, 3, 4}, {1, 1, 2, 2}, DType::f64, kChannelsLast);
  Tensor y = empty64({1, 1, 2, 2});
  ref_kernel(avg_pool2d_forward)(x, Pool2dParams{2, 2, 1}, y);
  expect_close(y, tensor_from_values({0.25, 0.5, 0.75, 1.0}, {1, 1, 2, 2}), 0, 1e-15, "y");
}

TEST(RefGlobalAvgPool, GradientsMatchFiniteDifferences) {
  Generator gen(16);
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{1, 1, 1, 1}, Shape{3, 2, 7, 3}})
    for (MemoryFormat layout : kLayouts) {
      SCOPED_TRACE(shape_str(shape) + " " + layout_name(layout));
      Tensor x = random_tensor(shape, DType::f64, gen, layout);
      const Tensor r = random_tensor({shape[0], shape[1]}, DType::f64, gen);
      auto loss = [&] {
        Tensor y = empty64({shape[0], shape[1]});
        ref_kernel(global_avg_pool_forward)(x, y);
        return dot(y, r);
      };
      Tensor dx = empty64(shape, other(layout));
      ref_kernel(global_avg_pool_backward)(r, dx);
      expect_gradient_matches(loss, x, dx, kGradTol, "dx");
    }
}

TEST(RefGlobalAvgPool, ForwardByHand) {
  const Tensor x = tensor_from_values({1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2}, DType::f64, kChannelsLast);
  Tensor y = empty64({1, 2});
  ref_kernel(global_avg_pool_forward)(x, y);
  expect_close(y, tensor_from_values({2.5, 25}, {1, 2}), 0, 1e-14, "y");
}

// -------------------------------------------------------------------------------------------- linear

TEST(RefLinear, GradientsMatchFiniteDifferences) {
  Generator gen(17);
  struct LinearCase {
    int64_t N, K, M;
    bool bias;
  };
  for (const LinearCase& c : {LinearCase{1, 1, 1, true}, LinearCase{4, 7, 3, true}, LinearCase{5, 3, 6, false}}) {
    SCOPED_TRACE("N " + std::to_string(c.N) + " K " + std::to_string(c.K) + " M " + std::to_string(c.M));
    Tensor x = random_tensor({c.N, c.K}, DType::f64, gen);
    Tensor w = random_tensor({c.M, c.K}, DType::f64, gen);
    Tensor b = c.bias ? random_tensor({c.M}, DType::f64, gen) : Tensor();
    const Tensor r = random_tensor({c.N, c.M}, DType::f64, gen);
    auto loss = [&] {
      Tensor y = empty64({c.N, c.M});
      ref_kernel(linear_forward)(x, w, b, y);
      return dot(y, r);
    };
    Tensor dx = empty64(x.shape()), dw = empty64(w.shape()), db = c.bias ? empty64({c.M}) : Tensor();
    ref_kernel(linear_backward_data)(r, w, dx);
    ref_kernel(linear_backward_weights)(x, r, dw, db);
    expect_gradient_matches(loss, x, dx, kGradTol, "dx");
    expect_gradient_matches(loss, w, dw, kGradTol, "dw");
    if (c.bias) expect_gradient_matches(loss, b, db, kGradTol, "db");
  }
}

TEST(RefLinear, ForwardByHandOnAStridedInput) {
  // x is columns 1..3 of a [2,5] tensor: row stride 5, not a dense block.
  const Tensor wide = tensor_from_values({9, 1, 2, 3, 9, 9, 4, 5, 6, 9}, {2, 5});
  const Tensor x = wide.narrow(1, 1, 3);
  const Tensor w = tensor_from_values({1, 0, 1, 0, 1, -1}, {2, 3});
  Tensor y = empty64({2, 2});
  ref_kernel(linear_forward)(x, w, tensor_from_values({0.5, -0.5}, {2}), y);
  // y = x wᵀ + b: [1+3, 2-3] + b and [4+6, 5-6] + b.
  expect_close(y, tensor_from_values({4.5, -1.5, 10.5, -1.5}, {2, 2}), 0, 1e-14, "y");
}

// ---------------------------------------------------------------------------------------------- relu

TEST(RefRelu, GradientsMatchFiniteDifferences) {
  Generator gen(18);
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{1, 2, 3, 3}, Shape{7, 3}, Shape{11}})
    for (MemoryFormat layout : kLayouts) {
      if (shape.size() != 4 && layout == kChannelsLast) continue;  // one layout below 4-D
      SCOPED_TRACE(shape_str(shape) + " " + layout_name(layout));
      // |x| >= 0.1: the finite-difference step never crosses the kink at 0.
      Tensor x = random_tensor_away_from_zero(shape, DType::f64, gen, format_for(shape, layout));
      const Tensor r = random_tensor(shape, DType::f64, gen, format_for(shape, other(layout)));
      auto forward = [&] {
        Tensor y = empty64(shape, format_for(shape, other(layout)));
        ref_kernel(relu_forward)(x, y);
        return y;
      };
      Tensor dx = empty64(shape, format_for(shape, layout));
      ref_kernel(relu_backward)(r, forward(), dx);
      expect_gradient_matches([&] { return dot(forward(), r); }, x, dx, kGradTol, "dx");
    }
}

TEST(RefRelu, ForwardAndBackwardByHand) {
  const Tensor x = tensor_from_values({-2, 0, 3, -0.5}, {4});
  Tensor y = empty64({4}), dx = empty64({4});
  ref_kernel(relu_forward)(x, y);
  EXPECT_EQ(y.to_double_vector(), (std::vector<double>{0, 0, 3, 0}));
  ref_kernel(relu_backward)(tensor_from_values({1, 2, 3, 4}, {4}), y, dx);
  EXPECT_EQ(dx.to_double_vector(), (std::vector<double>{0, 0, 3, 0}));  // derivative at 0 is 0
}

// ------------------------------------------------------------------------------------- elementwise

TEST(RefElementwise, AddAxpyScaleAcrossLayouts) {
  Generator gen(19);
  const Shape shape{2, 3, 4, 5};
  const Tensor a = random_tensor(shape, DType::f64, gen, kChannelsLast);
  const Tensor b = random_tensor(shape, DType::f64, gen, kRowMajor);
  const std::vector<double> va = a.to_double_vector(), vb = b.to_double_vector();
  std::vector<double> sum(va.size()), axpy_result(va.size()), scaled(va.size());
  for (size_t i = 0; i < va.size(); ++i) {
    sum[i] = va[i] + vb[i];
    axpy_result[i] = vb[i] + 0.5 * va[i];
    scaled[i] = -3.0 * va[i];
  }

  Tensor y = empty64(shape, kRowMajor);
  ref_kernel(add_forward)(a, b, y);
  expect_close(y, tensor_from_values(sum, shape), 0, 1e-15, "add");

  Tensor acc = b.clone();
  ref_kernel(axpy)(0.5, a, acc);
  expect_close(acc, tensor_from_values(axpy_result, shape), 0, 1e-15, "axpy");

  Tensor out = Tensor::full(shape, std::nan(""), DType::f64).contiguous(kChannelsLast);  // scale never reads y
  ref_kernel(scale)(-3.0, a, out);
  expect_close(out, tensor_from_values(scaled, shape), 0, 1e-15, "scale");

  Tensor in_place = a.clone();  // outputs may alias inputs
  ref_kernel(add_forward)(in_place, b, in_place);
  expect_close(in_place, tensor_from_values(sum, shape), 0, 1e-15, "add in place");
}

// ------------------------------------------------------------------------------------------- concat

TEST(RefConcat, StacksChannelsAcrossLayouts) {
  Generator gen(20);
  for (MemoryFormat layout : kLayouts) {
    SCOPED_TRACE(layout_name(layout));
    const Tensor x0 = random_tensor({2, 3, 4, 5}, DType::f64, gen, layout);
    const Tensor x1 = random_tensor({2, 1, 4, 5}, DType::f64, gen, other(layout));
    const Tensor x2 = random_tensor({2, 2, 4, 5}, DType::f64, gen, layout);
    Tensor y = empty64({2, 6, 4, 5}, other(layout));
    ref_kernel(concat_channels_forward)({x0, x1, x2}, y);
    int64_t first = 0;
    for (const Tensor& x : {x0, x1, x2}) {
      // The backward pass is this slice copy; the slices must hold the inputs exactly.
      Tensor slice = empty64(x.shape());
      slice.copy_(y.narrow(1, first, x.size(1)));
      expect_close(slice, x, 0, 0, "slice at channel " + std::to_string(first));
      first += x.size(1);
    }
  }
  const Tensor a = tensor_from_values({1, 2, 3, 4}, {2, 2}), b = tensor_from_values({5, 6}, {2, 1});
  Tensor y = empty64({2, 3});
  ref_kernel(concat_channels_forward)({a, b}, y);
  EXPECT_EQ(y.to_double_vector(), (std::vector<double>{1, 2, 5, 3, 4, 6}));
}

// ------------------------------------------------------------------------------------ cross-entropy

TEST(RefCrossEntropy, GradientsMatchFiniteDifferences) {
  Generator gen(21);
  const double dloss = 0.7;
  for (const auto& [N, C] : {std::pair<int64_t, int64_t>{1, 2}, {4, 5}, {7, 10}}) {
    SCOPED_TRACE("N " + std::to_string(N) + " C " + std::to_string(C));
    Tensor logits = random_tensor({N, C}, DType::f64, gen, kRowMajor, -3.0, 3.0);
    const Tensor labels = random_labels(N, C, gen);
    Tensor loss = empty64({1}), probs = empty64({N, C});
    auto scaled_loss = [&] {
      ref_kernel(cross_entropy_forward)(logits, labels, loss, probs);
      return dloss * loss.item();
    };
    scaled_loss();
    Tensor dlogits = empty64({N, C});
    ref_kernel(cross_entropy_backward)(probs.clone(), labels, dloss, dlogits);
    expect_gradient_matches(scaled_loss, logits, dlogits, kGradTol, "dlogits");
  }
}

TEST(RefCrossEntropy, KnownValues) {
  // Row 0: equal logits over 2 classes, -log(1/2). Row 1: logits 1,2,3 with label 2.
  // Row 2: logits 1000 and 0, which overflow exp without the max shift; loss ~ e^-1000 = 0.
  const Tensor logits = tensor_from_values({0, 0, -1e9, 1, 2, 3, 1000, 0, -1e9}, {3, 3});
  const Tensor labels = Tensor::from_vector<int64_t>({0, 2, 0}, {3});
  Tensor loss = empty64({1}), probs = empty64({3, 3});
  ref_kernel(cross_entropy_forward)(logits, labels, loss, probs);
  const double row1 = -std::log(std::exp(3.0) / (std::exp(1.0) + std::exp(2.0) + std::exp(3.0)));
  EXPECT_NEAR(loss.item(), (std::log(2.0) + row1 + 0.0) / 3.0, 1e-14);
  EXPECT_NEAR(probs.at({0, 0}), 0.5, 1e-15);
  EXPECT_NEAR(probs.at({2, 0}), 1.0, 1e-15);
  EXPECT_TRUE(std::isfinite(loss.item()));

  Tensor dlogits = empty64({3, 3});
  ref_kernel(cross_entropy_backward)(probs, labels, 3.0, dlogits);  // dloss * (p - onehot) / N with dloss = N
  EXPECT_NEAR(dlogits.at({0, 0}), -0.5, 1e-15);
  EXPECT_NEAR(dlogits.at({0, 1}), 0.5, 1e-15);
  EXPECT_NEAR(dlogits.at({1, 2}), probs.at({1, 2}) - 1.0, 1e-15);
}

TEST(RefCrossEntropy, LabelOutOfRangeNamesTheLabelAndIndex) {
  const Tensor logits = Tensor::zeros({3, 4}, DType::f64);
  Tensor loss = empty64({1}), probs = empty64({3, 4});
  expect_error_containing(
      [&] { ref_kernel(cross_entropy_forward)(logits, Tensor::from_vector<int64_t>({0, 4, 1}, {3}), loss, probs); },
      {"cross_entropy_forward", "label 4", "index 1", "[0, 4)"});
  expect_error_containing(
      [&] { ref_kernel(cross_entropy_forward)(logits, Tensor::from_vector<int64_t>({0, 1, -1}, {3}), loss, probs); },
      {"label -1", "index 2"});
  Tensor dlogits = empty64({3, 4});
  expect_error_containing(
      [&] { ref_kernel(cross_entropy_backward)(probs, Tensor::from_vector<int64_t>({7, 0, 0}, {3}), 1.0, dlogits); },
      {"cross_entropy_backward", "label 7", "index 0"});
}

// ---------------------------------------------------------------------------------------------- sgd

// One step on a single parameter; returns the new parameter values and momentum buffer.
struct SgdResult {
  std::vector<double> param, buffer;
};
SgdResult sgd_one_step(const SgdParams& p, std::vector<double> param, std::vector<double> grad,
                       std::vector<double> buffer) {
  const Shape shape{static_cast<int64_t>(param.size())};
  std::vector<Tensor> params{tensor_from_values(param, shape)};
  std::vector<Tensor> buffers{tensor_from_values(buffer, shape)};
  ref_kernel(sgd_update)(params, {tensor_from_values(grad, shape)}, buffers, p);
  return {params[0].to_double_vector(), buffers[0].to_double_vector()};
}

TEST(RefSgd, MomentumStepsByHand) {
  SgdParams p;
  p.lr = 0.1;
  p.momentum = 0.9;
  // First step, from zero buffers (as the optimizer starts them): buffer = g = [1, -2]; p = [1, 1] - 0.1 * g.
  SgdResult r = sgd_one_step(p, {1, 1}, {1, -2}, {0, 0});
  EXPECT_NEAR(r.buffer[0], 1.0, 1e-15);
  EXPECT_NEAR(r.buffer[1], -2.0, 1e-15);
  EXPECT_NEAR(r.param[0], 0.9, 1e-15);
  EXPECT_NEAR(r.param[1], 1.2, 1e-15);
  // Later step: v = 0.9 * 0.5 + 1 = 1.45; p = 2 - 0.1 * 1.45.
  r = sgd_one_step(p, {2}, {1}, {0.5});
  EXPECT_NEAR(r.buffer[0], 1.45, 1e-15);
  EXPECT_NEAR(r.param[0], 2 - 0.145, 1e-15);
}

TEST(RefSgd, NesterovByHand) {
  SgdParams p;
  p.lr = 0.1;
  p.momentum = 0.9;
  p.nesterov = true;
  // v = 0.9 * 0.5 + 1 = 1.45; step = g + 0.9 * v = 1 + 1.305 = 2.305.
  const SgdResult r = sgd_one_step(p, {2}, {1}, {0.5});
  EXPECT_NEAR(r.buffer[0], 1.45, 1e-15);
  EXPECT_NEAR(r.param[0], 2 - 0.2305, 1e-15);
}

TEST(RefSgd, WeightDecayIsAddedToTheGradient) {
  SgdParams p;
  p.lr = 0.1;
  p.momentum = 0.9;
  p.weight_decay = 0.01;
  // g = 1 + 0.01 * 2 = 1.02; v = 0.9 * 0.5 + 1.02 = 1.47; p = 2 - 0.147.
  const SgdResult r = sgd_one_step(p, {2}, {1}, {0.5});
  EXPECT_NEAR(r.buffer[0], 1.47, 1e-15);
  EXPECT_NEAR(r.param[0], 2 - 0.147, 1e-15);
}

TEST(RefSgd, WithoutMomentumNeedsNoBuffersAndBumpsVersions) {
  SgdParams p;
  p.lr = 0.5;
  p.weight_decay = 0.1;
  std::vector<Tensor> params{tensor_from_values({1, 2}, {2}), tensor_from_values({4}, {1, 1})};
  const std::vector<Tensor> grads{tensor_from_values({1, 1}, {2}), tensor_from_values({-2}, {1, 1})};
  const uint64_t v0 = params[0].storage()->version(), v1 = params[1].storage()->version();
  std::vector<Tensor> no_buffers;
  ref_kernel(sgd_update)(params, grads, no_buffers, p);
  // p -= 0.5 * (g + 0.1 p)
  EXPECT_NEAR(params[0].at({0}), 1 - 0.5 * 1.1, 1e-15);
  EXPECT_NEAR(params[0].at({1}), 2 - 0.5 * 1.2, 1e-15);
  EXPECT_NEAR(params[1].at({0, 0}), 4 - 0.5 * (-2 + 0.4), 1e-15);
  EXPECT_GT(params[0].storage()->version(), v0);
  EXPECT_GT(params[1].storage()->version(), v1);
}

TEST(RefSgd, BadArgumentsThrowBeforeAnyUpdate) {
  SgdParams p;
  p.momentum = 0.9;
  std::vector<Tensor> params{tensor_from_values({1}, {1}), tensor_from_values({1, 2}, {2})};
  std::vector<Tensor> buffers{empty64({1}), empty64({2})};
  expect_error_containing([&] { ref_kernel(sgd_update)(params, {empty64({1}), empty64({3})}, buffers, p); },
                          {"sgd_update", "grads[1]", "[3]", "[2]"});
  EXPECT_EQ(params[0].at({0}), 1.0);  // the first parameter was not stepped
  std::vector<Tensor> too_few{empty64({1})};
  expect_error_containing([&] { ref_kernel(sgd_update)(params, {empty64({1}), empty64({2})}, too_few, p); },
                          {"sgd_update", "momentum buffers"});
  p.momentum = 0.0;
  p.nesterov = true;
  expect_error_containing([&] { ref_kernel(sgd_update)(params, {empty64({1}), empty64({2})}, buffers, p); },
                          {"sgd_update", "nesterov"});
}

// ------------------------------------------------------------- float32 instantiations and dispatch

// Runs op on float64 inputs directly and on float32 copies through dispatch under ReferenceModeGuard
// (which must route them to ref), and compares the outputs.
TEST(RefDispatch, Float32UnderReferenceModeMatchesFloat64) {
  Generator gen(22);
  const Tensor x = random_tensor({2, 3, 6, 5}, DType::f64, gen, kChannelsLast);
  const Tensor w = random_tensor({4, 3, 3, 3}, DType::f64, gen);
  const Tensor b = random_tensor({4}, DType::f64, gen);
  const Conv2dParams cp{2, 1};
  const Shape y_shape{2, 4, 3, 3};
  Tensor y64 = empty64(y_shape, kChannelsLast);
  conv2d_forward(x, w, b, cp, y64);  // float64 dispatches to ref without a guard

  Tensor y32 = Tensor::empty_activation(y_shape, DType::f32);
  {
    ReferenceModeGuard guard;
    EXPECT_EQ(impl_for(y32), Impl::ref);
    const Tensor x32 = x.to(DType::f32);
    conv2d_forward(x32, w.to(DType::f32), b.to(DType::f32), cp, y32);
  }
  expect_close(y32, y64, 1e-5, 1e-5, "conv2d float32 vs float64");

  // Batch norm statistics accumulate in double, so float32 stays close even with a large offset.
  const Tensor shifted = random_tensor({4, 3, 5, 5}, DType::f64, gen, kChannelsLast, 999.0, 1001.0);
  const Tensor gamma = Tensor::full({3}, 1.0, DType::f64), beta = Tensor::zeros({3}, DType::f64);
  auto normalize = [&](DType dtype) {
    Tensor rm = Tensor::zeros({3}, dtype), rv = Tensor::full({3}, 1.0, dtype);
    Tensor y = Tensor::empty_activation(shifted.shape(), dtype), m = Tensor::empty({3}, dtype),
           v = Tensor::empty({3}, dtype);
    ref_kernel(batch_norm_forward_train)(shifted.to(dtype), gamma.to(dtype), beta.to(dtype), rm, rv, 0.1, 1e-5, y, m, v);
    return y;
  };
  expect_close(normalize(DType::f32), normalize(DType::f64), 1e-4, 1e-4, "batch norm float32 vs float64");
}

// The float32 instantiations, called directly, against float64 on the same values.
TEST(RefDispatch, Float32InstantiationsMatchFloat64) {
  Generator gen(23);
  auto empty_like = [](const Shape& shape, const Tensor& like) {
    return Tensor::empty(shape, like.dtype(), Device::cpu(), format_for(shape, kChannelsLast));
  };

  const Tensor x64 = distinct_random_tensor({2, 3, 7, 6}, DType::f64, gen, kChannelsLast), x32 = x64.to(DType::f32);
  const Pool2dParams pool{3, 2, 1};
  const Shape pooled{2, 3, 4, 3};
  Tensor max64 = empty_like(pooled, x64), max32 = empty_like(pooled, x32), ws64, ws32;
  ref_kernel(max_pool2d_forward)(x64, pool, max64, ws64);
  ref_kernel(max_pool2d_forward)(x32, pool, max32, ws32);
  expect_close(max32, max64, 1e-6, 1e-6, "max pool");
  EXPECT_EQ(ws32.to_double_vector(), ws64.to_double_vector());
  Tensor avg64 = empty_like(pooled, x64), avg32 = empty_like(pooled, x32);
  ref_kernel(avg_pool2d_forward)(x64, pool, avg64);
  ref_kernel(avg_pool2d_forward)(x32, pool, avg32);
  expect_close(avg32, avg64, 1e-5, 1e-5, "avg pool");

  const Tensor a64 = random_tensor({5, 8}, DType::f64, gen, kRowMajor, -3.0, 3.0), a32 = a64.to(DType::f32);
  const Tensor w64 = random_tensor({4, 8}, DType::f64, gen), w32 = w64.to(DType::f32);
  Tensor lin64 = empty_like({5, 4}, a64), lin32 = empty_like({5, 4}, a32);
  ref_kernel(linear_forward)(a64, w64, Tensor(), lin64);
  ref_kernel(linear_forward)(a32, w32, Tensor(), lin32);
  expect_close(lin32, lin64, 1e-5, 1e-5, "linear");

  const Tensor labels = random_labels(5, 8, gen);
  Tensor loss64 = empty_like({1}, a64), loss32 = empty_like({1}, a32);
  Tensor probs64 = empty_like({5, 8}, a64), probs32 = empty_like({5, 8}, a32);
  ref_kernel(cross_entropy_forward)(a64, labels, loss64, probs64);
  ref_kernel(cross_entropy_forward)(a32, labels, loss32, probs32);
  expect_close(loss32, loss64, 1e-6, 1e-6, "cross-entropy loss");
  expect_close(probs32, probs64, 1e-5, 1e-6, "softmax");

  SgdParams sgd;
  sgd.momentum = 0.9;
  sgd.nesterov = true;
  sgd.weight_decay = 5e-4;
  const Tensor g64 = random_tensor({4, 8}, DType::f64, gen);
  std::vector<Tensor> params64{w64.clone()}, params32{w32.clone()};
  std::vector<Tensor> buffers64{Tensor::full({4, 8}, 0.25, DType::f64)}, buffers32{Tensor::full({4, 8}, 0.25)};
  ref_kernel(sgd_update)(params64, {g64}, buffers64, sgd);
  ref_kernel(sgd_update)(params32, {g64.to(DType::f32)}, buffers32, sgd);
  expect_close(params32[0], params64[0], 1e-6, 1e-6, "sgd params");
  expect_close(buffers32[0], buffers64[0], 1e-6, 1e-6, "sgd buffers");
}

// ---------------------------------------------------------------------------------- error messages

TEST(RefErrors, ShapeMismatchesNameTheOpAndBothShapes) {
  const Tensor x = empty64({2, 3, 5, 5}, kChannelsLast), w = empty64({4, 3, 3, 3});
  Tensor y_wrong = empty64({2, 4, 4, 4});
  expect_error_containing([&] { ref_kernel(conv2d_forward)(x, w, Tensor(), Conv2dParams{1, 0}, y_wrong); },
                          {"conv2d_forward", "[2, 4, 4, 4]", "[2, 4, 3, 3]"});
  Tensor y = empty64({2, 4, 3, 3});
  expect_error_containing([&] { ref_kernel(conv2d_forward)(x, empty64({4, 2, 3, 3}), Tensor(), Conv2dParams{1, 0}, y); },
                          {"conv2d_forward", "[4, 2, 3, 3]", "[2, 3, 5, 5]"});
  expect_error_containing([&] { ref_kernel(conv2d_forward)(x, w, empty64({3}), Conv2dParams{1, 0}, y); },
                          {"conv2d_forward", "b", "[3]", "[4]"});
  Tensor dx = empty64({2, 3, 6, 6});
  expect_error_containing([&] { ref_kernel(conv2d_backward_data)(y, w, Conv2dParams{1, 0}, dx); },
                          {"conv2d_backward_data", "[2, 4, 3, 3]", "[2, 4, 4, 4]"});

  Tensor lin_y = empty64({2, 4});
  expect_error_containing([&] { ref_kernel(linear_forward)(empty64({2, 5}), empty64({4, 6}), Tensor(), lin_y); },
                          {"linear_forward", "[2, 5]", "[4, 6]"});

  Tensor add_y = empty64({2, 3});
  expect_error_containing([&] { ref_kernel(add_forward)(empty64({2, 3}), empty64({3, 2}), add_y); },
                          {"add_forward", "[3, 2]", "[2, 3]"});

  Tensor rm = empty64({3}), rv = empty64({3}), sm = empty64({3}), sv = empty64({3}), bn_y = empty64({2, 4});
  expect_error_containing(
      [&] {
        ref_kernel(batch_norm_forward_train)(empty64({2, 4}), empty64({3}), empty64({3}), rm, rv, 0.1, 1e-5, bn_y, sm, sv);
      },
      {"batch_norm_forward_train", "gamma", "[3]", "[4]"});

  Tensor pool_y = empty64({1, 1, 3, 3}), ws;
  expect_error_containing([&] { ref_kernel(max_pool2d_forward)(empty64({1, 1, 4, 4}), Pool2dParams{2, 2, 0}, pool_y, ws); },
                          {"max_pool2d_forward", "[1, 1, 3, 3]", "[1, 1, 2, 2]"});

  Tensor cat_y = empty64({2, 5, 3, 3});
  expect_error_containing(
      [&] { ref_kernel(concat_channels_forward)({empty64({2, 2, 3, 3}), empty64({2, 3, 4, 3})}, cat_y); },
      {"concat_channels_forward", "xs[1]", "[2, 3, 4, 3]", "[2, 3, 3, 3]"});

  Tensor relu_dx = empty64({4});
  expect_error_containing([&] { ref_kernel(relu_backward)(empty64({4}), empty64({5}), relu_dx); },
                          {"relu_backward", "[5]", "[4]"});
}

TEST(RefErrors, DtypeAndRankMismatches) {
  Tensor y = empty64({2, 4, 3, 3});
  expect_error_containing(
      [&] {
        ref_kernel(conv2d_forward)(empty64({2, 3, 5, 5}), Tensor::empty({4, 3, 3, 3}, DType::f32), Tensor(),
                            Conv2dParams{1, 0}, y);
      },
      {"conv2d_forward", "w", "float32", "float64"});
  Tensor labels_out = Tensor::empty({3}, DType::i64);
  expect_error_containing([&] { ref_kernel(relu_forward)(Tensor::zeros({3}, DType::i64), labels_out); },
                          {"relu_forward", "int64"});
  Tensor gap_y = empty64({2, 3});
  expect_error_containing([&] { ref_kernel(global_avg_pool_forward)(empty64({2, 3}), gap_y); },
                          {"global_avg_pool_forward", "[2, 3]", "4 dimensions"});
  Tensor undefined, scale_y = empty64({2});
  expect_error_containing([&] { ref_kernel(scale)(2.0, undefined, scale_y); }, {"scale", "undefined"});
}

TEST(RefErrors, MaxPoolRejectsAForeignWorkspace) {
  const Pool2dParams p{2, 2, 0};
  Tensor dx = empty64({1, 1, 4, 4});
  const Tensor dy = Tensor::zeros({1, 1, 2, 2}, DType::f64);
  expect_error_containing(
      [&] { ref_kernel(max_pool2d_backward)(dy, Tensor::zeros({1, 1, 2, 2}, DType::u8), p, dx); },
      {"max_pool2d_backward", "workspace", "int64"});
  // Index 0 belongs to the first window only.
  expect_error_containing(
      [&] { ref_kernel(max_pool2d_backward)(dy, Tensor::zeros({1, 1, 2, 2}, DType::i64), p, dx); },
      {"max_pool2d_backward", "workspace index 0", "[0, 0, 0, 1]"});
}

TEST(RefErrors, BatchNormTrainingNeedsMoreThanOneValuePerChannel) {
  Tensor rm = empty64({3}), rv = empty64({3}), sm = empty64({3}), sv = empty64({3}), y = empty64({1, 3});
  expect_error_containing(
      [&] {
        ref_kernel(batch_norm_forward_train)(empty64({1, 3}), empty64({3}), empty64({3}), rm, rv, 0.1, 1e-5, y, sm, sv);
      },
      {"batch_norm_forward_train", "more than 1 value per channel"});
}

TEST(RefRegistration, EverySlotHasARefImplementation) {
  EXPECT_TRUE(conv2d_forward.has(Impl::ref));
  EXPECT_TRUE(conv2d_backward_data.has(Impl::ref));
  EXPECT_TRUE(conv2d_backward_weights.has(Impl::ref));
  EXPECT_TRUE(conv2d_backward.has(Impl::ref));
  EXPECT_TRUE(batch_norm_forward_train.has(Impl::ref));
  EXPECT_TRUE(batch_norm_forward_eval.has(Impl::ref));
  EXPECT_TRUE(batch_norm_backward.has(Impl::ref));
  EXPECT_TRUE(max_pool2d_forward.has(Impl::ref));
  EXPECT_TRUE(max_pool2d_backward.has(Impl::ref));
  EXPECT_TRUE(avg_pool2d_forward.has(Impl::ref));
  EXPECT_TRUE(avg_pool2d_backward.has(Impl::ref));
  EXPECT_TRUE(global_avg_pool_forward.has(Impl::ref));
  EXPECT_TRUE(global_avg_pool_backward.has(Impl::ref));
  EXPECT_TRUE(linear_forward.has(Impl::ref));
  EXPECT_TRUE(linear_backward_data.has(Impl::ref));
  EXPECT_TRUE(linear_backward_weights.has(Impl::ref));
  EXPECT_TRUE(relu_forward.has(Impl::ref));
  EXPECT_TRUE(relu_backward.has(Impl::ref));
  EXPECT_TRUE(add_forward.has(Impl::ref));
  EXPECT_TRUE(axpy.has(Impl::ref));
  EXPECT_TRUE(scale.has(Impl::ref));
  EXPECT_TRUE(concat_channels_forward.has(Impl::ref));
  EXPECT_TRUE(cross_entropy_forward.has(Impl::ref));
  EXPECT_TRUE(cross_entropy_backward.has(Impl::ref));
  EXPECT_TRUE(sgd_update.has(Impl::ref));
}

}  // namespace
}  // namespace collapse
