// The channel-blocked layout (core/blocked_layout.h) and where it is used: a convolution on the cpu's Winograd
// route saves its input blocked for its backward pass (autograd/ops/conv2d.cpp) and hands its output to the
// batch norm after it blocked (layers' conv_bn_relu). None of it may change a number.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "autograd/functional.h"
#include "backends/arithmetic_settings.h"
#include "backends/cpu/onednn_common.h"
#include "backends/kernels.h"
#include "core/blocked_layout.h"
#include "core/profiler.h"
#include "layers/models/network.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

Generator& gen() {
  static Generator g(20261205);
  return g;
}
Tensor rand(const Shape& shape, MemoryFormat format = MemoryFormat::channels_last) {
  return random_tensor(shape, DType::f32, gen(), format);
}
bool same_bits(const Tensor& a, const Tensor& b) {
  const Tensor x = a.contiguous(), y = b.contiguous();
  return x.shape() == y.shape() && std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}
void skip_without_winograd() {
  if (cpu_winograd_status() != "on") GTEST_SKIP() << "Winograd route " << cpu_winograd_status();
}

TEST(BlockedLayout, ElementsSitWhereNchw16cPutsThem) {
  const Tensor x = rand({2, 32, 3, 2});
  const Tensor b = to_blocked(x);
  EXPECT_TRUE(is_blocked(b));
  EXPECT_FALSE(is_blocked(x));
  EXPECT_EQ(b.shape(), (Shape{2, 2, 3, 2, 16}));
  EXPECT_EQ(logical_shape(b), x.shape());
  EXPECT_EQ(logical_shape(x), x.shape());
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 32; ++c)
      for (int64_t h = 0; h < 3; ++h)
        for (int64_t w = 0; w < 2; ++w) ASSERT_EQ(b.at({n, c / 16, h, w, c % 16}), x.at({n, c, h, w}));
  const Tensor back = from_blocked(b);
  EXPECT_TRUE(back.is_channels_last());
  EXPECT_TRUE(same_bits(back, x));
}

TEST(BlockedLayout, ShapesWithoutWholeBlocksAreRefused) {
  expect_error_containing([] { blocked_shape({2, 24, 4, 4}); }, {"blocked_shape", "[2, 24, 4, 4]", "multiple of 16"});
  expect_error_containing([] { unblocked_shape({2, 24, 4, 4}); }, {"unblocked_shape", "[N, C/16, H, W, 16]"});
  expect_error_containing([] { from_blocked(rand({2, 16, 4, 4})); }, {"from_blocked", "not a blocked"});
}

TEST(BlockedLayout, CpuBlockedCopyMatchesTheReferenceLoop) {
  for (MemoryFormat format : {MemoryFormat::channels_last, MemoryFormat::contiguous}) {
    const Tensor x = rand({3, 48, 5, 7}, format);
    Tensor out = Tensor::empty(blocked_shape(x.shape()));
    blocked_copy(x, out);
    EXPECT_TRUE(same_bits(out, to_blocked(x)));
  }
  Tensor wrong = Tensor::empty({3, 2, 5, 7, 16});
  expect_error_containing([&] { blocked_copy(rand({3, 48, 5, 7}), wrong); }, {"blocked_copy", "[3, 2, 5, 7, 16]"});
}

TEST(BlockedLayout, OnlyTheCpuBackendReadsABlockedInput) {
  const Tensor x = to_blocked(rand({2, 32, 8, 8})), w = rand({32, 32, 3, 3}, MemoryFormat::contiguous);
  Tensor y = Tensor::empty({2, 32, 8, 8}, DType::f32, Device::cpu(), MemoryFormat::channels_last);
  // Named explicitly, the reference backend refuses the 5-D shape.
  expect_error_containing([&] { conv2d_forward.on(Impl::ref)(x, w, Tensor(), Conv2dParams{1, 1}, y); },
                          {"conv2d", "[N,Ci,H,W]", "[2, 2, 8, 8, 16]"});
  {
    ReferenceModeGuard reference;
    expect_error_containing([&] { conv2d_forward(x, w, Tensor(), Conv2dParams{1, 1}, y); },
                            {"conv2d_forward", "only the cpu backend"});
  }
  // On the cpu, only a convolution that runs on the blocked layout takes one (stride 2 does not).
  Tensor y2 = Tensor::empty({2, 32, 4, 4}, DType::f32, Device::cpu(), MemoryFormat::channels_last);
  expect_error_containing([&] { conv2d_forward(x, w, Tensor(), Conv2dParams{2, 1}, y2); },
                          {"conv2d", "does not run on that layout", "conv2d_runs_blocked"});
  // Nor a blocked gradient for an input (stride 2 again).
  Tensor dx = Tensor::empty({2, 2, 8, 8, 16});
  expect_error_containing([&] { conv2d_backward_data(rand({2, 32, 4, 4}), w, Conv2dParams{2, 1}, dx); },
                          {"conv2d", "channel-blocked", "does not run on that layout"});
}

TEST(BlockedLayout, WinogradConvolutionReadsABlockedInputAsItIs) {
  skip_without_winograd();
  const Conv2dParams p{1, 1};
  const Tensor x = rand({2, 32, 9, 7}), w = rand({48, 32, 3, 3}, MemoryFormat::contiguous);
  const Tensor b = rand({48}, MemoryFormat::contiguous);
  EXPECT_TRUE(conv2d_runs_blocked(x, w, p));
  EXPECT_FALSE(conv2d_runs_blocked(x, w, Conv2dParams{2, 1}));
  // A 2x2 map: Winograd would take it, but the forward runs it as one GEMM on channels-last input.
  EXPECT_FALSE(conv2d_runs_blocked(rand({2, 64, 2, 2}), rand({64, 64, 3, 3}, MemoryFormat::contiguous), p));
  auto activation = [](const Shape& s) {
    return Tensor::empty(s, DType::f32, Device::cpu(), MemoryFormat::channels_last);
  };
  Tensor y_plain = activation({2, 48, 9, 7}), y_blocked = activation({2, 48, 9, 7});
  conv2d_forward(x, w, b, p, y_plain);
  conv2d_forward(to_blocked(x), w, b, p, y_blocked);
  EXPECT_TRUE(same_bits(y_plain, y_blocked));

  const Tensor dy = rand({2, 48, 9, 7});
  Tensor dw_plain = Tensor::empty(w.shape()), dw_blocked = Tensor::empty(w.shape());
  Tensor db_plain = Tensor::empty({48}), db_blocked = Tensor::empty({48});
  Tensor dx_plain = activation(x.shape()), dx_blocked = activation(x.shape()), no_dx;
  conv2d_backward(x, dy, w, p, dx_plain, dw_plain, db_plain);
  conv2d_backward(to_blocked(x), dy, w, p, dx_blocked, dw_blocked, db_blocked);
  EXPECT_TRUE(same_bits(dx_plain, dx_blocked));
  EXPECT_TRUE(same_bits(dw_plain, dw_blocked));
  EXPECT_TRUE(same_bits(db_plain, db_blocked));
  conv2d_backward(to_blocked(x), dy, w, p, no_dx, dw_blocked, db_blocked);  // backward-weights alone
  EXPECT_TRUE(same_bits(dw_plain, dw_blocked));
}

// One forward and backward of conv2d (the op), with or without saving x blocked: output, gradients, and how
// many blocked copies the op made.
struct ConvRun {
  Tensor y, dx, dw, db;
  int64_t blocked_copies = 0;
};
ConvRun run_conv(bool blocked, const Tensor& x0, const Tensor& w0, const Tensor& b0, const Tensor& seed,
                 const Conv2dParams& p) {
  BlockedActivationsGuard setting(blocked);
  Variable x(x0.clone(), true), w(w0.clone(), true), b(b0.clone(), true);
  profile::reset();
  profile::enable(true);
  Variable y = conv2d(x, w, b, p);
  y.backward(seed);
  profile::enable(false);
  ConvRun r{y.data(), x.grad(), w.grad(), b.grad()};
  for (const auto& row : profile::snapshot().by_op)
    if (row.name == "blocked_copy") r.blocked_copies = row.calls;
  return r;
}

TEST(BlockedLayout, Conv2dSavesItsInputBlockedWithoutChangingANumber) {
  skip_without_winograd();
  const Tensor x = rand({2, 32, 8, 8}), w = rand({32, 32, 3, 3}, MemoryFormat::contiguous);
  const Tensor b = rand({32}, MemoryFormat::contiguous), seed = rand({2, 32, 8, 8});
  const ConvRun plain = run_conv(false, x, w, b, seed, Conv2dParams{1, 1});
  const ConvRun blocked = run_conv(true, x, w, b, seed, Conv2dParams{1, 1});
  EXPECT_EQ(plain.blocked_copies, 0);
  EXPECT_EQ(blocked.blocked_copies, 1);
  EXPECT_TRUE(same_bits(plain.y, blocked.y));
  EXPECT_TRUE(same_bits(plain.dx, blocked.dx));
  EXPECT_TRUE(same_bits(plain.dw, blocked.dw));
  EXPECT_TRUE(same_bits(plain.db, blocked.db));
  EXPECT_FALSE(is_blocked(blocked.dx));
  // Not on the route (stride 2), or 16 input channels (the layouts are the same bytes): no copy.
  const Tensor seed2 = rand({2, 32, 4, 4});
  EXPECT_EQ(run_conv(true, x, w, b, seed2, Conv2dParams{2, 1}).blocked_copies, 0);
  const Tensor x16 = rand({2, 16, 8, 8}), w16 = rand({32, 16, 3, 3}, MemoryFormat::contiguous);
  EXPECT_EQ(run_conv(true, x16, w16, b, seed, Conv2dParams{1, 1}).blocked_copies, 0);
}

TEST(BlockedLayout, NoCopyWithoutAWeightsGradient) {
  skip_without_winograd();
  BlockedActivationsGuard on(true);
  const Tensor x = rand({2, 32, 8, 8}), w = rand({32, 32, 3, 3}, MemoryFormat::contiguous);
  profile::reset();
  profile::enable(true);
  {
    NoGradGuard no_grad;
    conv2d(Variable(x, true), Variable(w, true), Variable(), Conv2dParams{1, 1});
  }
  conv2d(Variable(x, true), Variable(w, false), Variable(), Conv2dParams{1, 1});  // dx only
  profile::enable(false);
  for (const auto& row : profile::snapshot().by_op) EXPECT_NE(row.name, "blocked_copy");
}

}  // namespace

namespace {

// ---------------------------------------------------------------- batch norm reading a blocked x

Tensor from_blocked_if(const Tensor& t) { return is_blocked(t) ? from_blocked(t) : t; }

struct BatchNormRun {
  Tensor y, mean, var, running_mean, running_var, dx, dresidual, dgamma, dbeta, y_eval;
};
// The cpu batch-norm (+ residual) + ReLU kernels on x as given (plain or blocked): training forward,
// backward (with the output's mask when there is a residual, else recomputed from x), evaluation forward.
// With blocked_y (x blocked), y and dy are blocked too.
BatchNormRun batch_norm_on(const Tensor& x, const Tensor& residual, const Tensor& dy, bool blocked_y = false) {
  const Shape s = logical_shape(x);
  const int64_t C = s[1];
  Generator g(7);
  const Tensor gamma = random_tensor({C}, DType::f32, g), beta = random_tensor({C}, DType::f32, g);
  auto plain = [&] { return Tensor::empty(s, DType::f32, Device::cpu(), MemoryFormat::channels_last); };
  auto output = [&] { return blocked_y ? Tensor::empty(x.shape()) : plain(); };
  BatchNormRun r{output(), Tensor::empty({C}), Tensor::empty({C}), Tensor::zeros({C}), Tensor::full({C}, 1.0),
                 Tensor::empty(x.shape()), residual.defined() ? plain() : Tensor(), Tensor::empty({C}),
                 Tensor::empty({C}), output()};
  batch_norm_relu_forward_train(x, residual, gamma, beta, r.running_mean, r.running_var, 0.1, 1e-5, r.y, r.mean,
                                r.var);
  batch_norm_relu_backward(blocked_y ? to_blocked(dy) : dy, residual.defined() ? from_blocked_if(r.y) : Tensor(),
                           x, gamma, beta, r.mean, r.var, 1e-5, r.dx, r.dresidual, r.dgamma, r.dbeta);
  batch_norm_relu_forward_eval(x, residual, gamma, beta, r.running_mean, r.running_var, 1e-5, r.y_eval);
  return r;
}

TEST(BlockedLayout, BatchNormReadsABlockedInputAndWritesItsGradientBlocked) {
  // 48 channels: a period (6 pixels) crosses image boundaries (16 pixels per image); 64 at 2x2 and 128: others.
  for (const Shape& s : {Shape{3, 48, 4, 4}, Shape{5, 64, 2, 2}, Shape{2, 128, 5, 3}}) {
    SCOPED_TRACE(shape_str(s));
    const Tensor x = rand(s), dy = rand(s);
    for (bool with_residual : {false, true}) {
      const Tensor residual = with_residual ? rand(s) : Tensor();
      const BatchNormRun plain = batch_norm_on(x, residual, dy);
      for (bool blocked_y : {false, true}) {
        SCOPED_TRACE(blocked_y ? "y and dy blocked" : "y and dy plain");
        const BatchNormRun blocked = batch_norm_on(to_blocked(x), residual, dy, blocked_y);
        EXPECT_TRUE(is_blocked(blocked.dx));
        EXPECT_EQ(is_blocked(blocked.y), blocked_y);
        EXPECT_TRUE(same_bits(plain.y, from_blocked_if(blocked.y)));
        EXPECT_TRUE(same_bits(plain.mean, blocked.mean));
        EXPECT_TRUE(same_bits(plain.var, blocked.var));
        EXPECT_TRUE(same_bits(plain.running_mean, blocked.running_mean));
        EXPECT_TRUE(same_bits(plain.running_var, blocked.running_var));
        EXPECT_TRUE(same_bits(to_blocked(plain.dx), blocked.dx));
        EXPECT_TRUE(same_bits(plain.dgamma, blocked.dgamma));
        EXPECT_TRUE(same_bits(plain.dbeta, blocked.dbeta));
        if (with_residual) {
          EXPECT_TRUE(same_bits(plain.dresidual, blocked.dresidual));
        }
        EXPECT_TRUE(same_bits(plain.y_eval, from_blocked_if(blocked.y_eval)));
      }
    }
  }
}

TEST(BlockedLayout, ABatchNormsOutputIsBlockedOnlyWhereItsInputIs) {
  const Tensor xb = to_blocked(rand({2, 32, 4, 4}));
  const Tensor gamma = Tensor::full({32}, 1.0), beta = Tensor::zeros({32});
  Tensor rm = Tensor::zeros({32}), rv = Tensor::full({32}, 1.0), mean = Tensor::empty({32}), var = Tensor::empty({32});
  Tensor y_blocked = Tensor::empty(xb.shape());
  const Tensor x_plain = from_blocked(xb), residual_blocked = to_blocked(rand({2, 32, 4, 4}));
  expect_error_containing(
      [&] { batch_norm_relu_forward_train(x_plain, Tensor(), gamma, beta, rm, rv, 0.1, 1e-5, y_blocked, mean, var); },
      {"batch_norm_relu_forward_train", "y", "channel-blocked"});
  Tensor y_plain = from_blocked(xb);
  expect_error_containing(
      [&] { batch_norm_relu_forward_train(xb, residual_blocked, gamma, beta, rm, rv, 0.1, 1e-5, y_plain, mean, var); },
      {"batch_norm_relu_forward_train", "residual", "channel-blocked"});
  const Tensor x = xb;
  // The op refuses a blocked input in evaluation mode when it builds a graph (its backward is for plain ones).
  expect_error_containing(
      [&] { batch_norm(Variable(x, true), Variable(gamma, true), Variable(beta), rm, rv, false, 0.1, 1e-5); },
      {"batch_norm", "channel-blocked", "evaluation mode with gradients"});
}

// ---------------------------------------------------------------- conv_bn_relu in models

struct StepResult {
  Tensor logits;
  std::vector<Tensor> grads;
  size_t activation_reorders = 0;  // copies between channels-last and blocked in the step
  int64_t blocked_seen = 0;        // blocked tensors that forward hooks saw
};
// One forward and backward of a small model; with `hooks`, forward hooks on every Conv2d and BatchNormReLU.
StepResult train_step(bool blocked, const std::string& arch, int depth, bool hooks = false) {
  BlockedActivationsGuard setting(blocked);
  Generator g(11);
  NetworkPtr model = build_model({arch, depth, 0.5, 3, 32, 10}, g);
  StepResult r;
  std::vector<HookHandle> handles;
  if (hooks)
    for (auto& [name, m] : model->named_modules())
      if (dynamic_cast<Conv2d*>(m) || dynamic_cast<BatchNormReLU*>(m))
        handles.push_back(m->register_forward_hook([&](Module&, const Variable& in, const Variable& out) {
          r.blocked_seen += is_blocked(in.data()) + is_blocked(out.data());
        }));
  Generator data(12);
  const Tensor x = random_tensor({2, 3, 32, 32}, DType::f32, data, MemoryFormat::channels_last);
  const size_t reorders_before = cpu_activation_reorders();
  Variable logits = (*model)(Variable(x));
  logits.backward(random_tensor(logits.shape(), DType::f32, data));
  r.activation_reorders = cpu_activation_reorders() - reorders_before;
  r.logits = logits.data();
  for (const Variable& p : model->parameters()) r.grads.push_back(p.grad());
  return r;
}

TEST(BlockedLayout, ModelsTrainIdenticallyWithFewerReorders) {
  skip_without_winograd();
  // Five reorders per Winograd convolution without (x, y, dy, dx, x again), two with (x, dx), none for a
  // residual block's conv2 whose conv1 runs blocked too, as bn1 keeps its input blocked for it (ResNet18
  // width 0.5: 13 Winograd convolutions, 5 of them such conv2s, so 65 -> 16). VGG's last two convolutions
  // (2x2 maps) run their forward as one GEMM and keep the three reorders of their combined Winograd backward.
  struct Case {
    std::string arch;
    int depth;
    double max_fraction;
  };
  for (const Case& c : {Case{"resnet", 18, 16.0 / 65.0}, Case{"vgg", 11, 16.0 / 31.0}}) {
    const std::string& arch = c.arch;
    const int depth = c.depth;
    SCOPED_TRACE(arch);
    const StepResult plain = train_step(false, arch, depth);
    const StepResult blocked = train_step(true, arch, depth);
    EXPECT_TRUE(same_bits(plain.logits, blocked.logits));
    ASSERT_EQ(plain.grads.size(), blocked.grads.size());
    for (size_t i = 0; i < plain.grads.size(); ++i) EXPECT_TRUE(same_bits(plain.grads[i], blocked.grads[i])) << i;
    EXPECT_GT(plain.activation_reorders, 0u);
    EXPECT_LE(static_cast<double>(blocked.activation_reorders), c.max_fraction * plain.activation_reorders + 1e-9)
        << plain.activation_reorders << " -> " << blocked.activation_reorders;
  }
}

TEST(BlockedLayout, HooksSeePlainTensors) {
  skip_without_winograd();
  const StepResult hooked = train_step(true, "resnet", 18, /*hooks=*/true);
  EXPECT_EQ(hooked.blocked_seen, 0);
  // The hand-off is skipped where hooks would see it, so this step reorders more than an unhooked one.
  EXPECT_GT(hooked.activation_reorders, train_step(true, "resnet", 18).activation_reorders);
}

}  // namespace
