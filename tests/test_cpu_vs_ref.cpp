// The oneDNN + OpenMP backend (backends/cpu) against the reference backend, kernel slot by kernel slot:
// every output of every forward and backward pass, on random float32 inputs with odd sizes, stride 2,
// padding 0/1, batch 1, and both channels-last and row-major tensors. The reference result is the same
// slot called under ReferenceModeGuard (plain loops accumulating in double).
//
// Tolerances are relative to the largest magnitude of the compared tensors (testing::max_rel_error):
//  - 1e-6 where both backends do the same float32 arithmetic (copies, elementwise, SGD, pooling, ReLU);
//  - 1e-5 for reductions that the cpu backend sums in float32 in another order (conv, linear, batch norm,
//    global pooling, softmax): float32 rounding of a few hundred terms stays well below that.
// The largest errors seen on an AVX-512 machine were 5e-7 (conv y) and 1.3e-7 among the 1e-6 ops, so both
// tolerances leave a 10x margin for other instruction sets, where oneDNN picks other kernels.
// Also here: the steady state creates no oneDNN primitive, and the conv weights cache reorders once per step.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "backends/cpu/conv2d_winograd.h"
#include "backends/cpu/onednn_common.h"
#include "backends/kernels.h"
#include "core/storage.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

constexpr double kExact = 1e-6;   // same float32 operations, maybe fused differently
constexpr double kReduce = 1e-5;  // float32 sums in a different order than the double reference
// Winograd convolutions (backends/cpu/conv2d_winograd.h) also round in their tile transforms: 1.1e-6 seen at
// 32 channels, 3.7e-6 at 256 (the direct kernels: 5e-7).
constexpr double kWinograd = 3e-5;

constexpr MemoryFormat kCL = MemoryFormat::channels_last;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;

using Outputs = std::vector<Tensor>;

// Runs `op` on the cpu backend and again on the reference backend (each allocating its own outputs) and
// expects every output to agree within `tol`.
void expect_cpu_matches_ref(const std::function<Outputs()>& op, const std::vector<std::string>& names, double tol,
                            const std::string& context) {
  const Outputs cpu = op();
  Outputs ref;
  {
    ReferenceModeGuard guard;
    ref = op();
  }
  ASSERT_EQ(cpu.size(), names.size());
  ASSERT_EQ(ref.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_EQ(cpu[i].shape(), ref[i].shape()) << context << " " << names[i];
    const double err = max_rel_error(cpu[i], ref[i]);
    EXPECT_LT(err, tol) << context << ": " << names[i] << " differs from the reference (max relative error " << err
                        << ", tolerance " << tol << ")";
  }
}

Generator& gen() {
  static Generator g(20240611);
  return g;
}

Tensor rand(const Shape& shape, MemoryFormat format = kRowMajor) { return random_tensor(shape, DType::f32, gen(), format); }
Tensor empty(const Shape& shape, MemoryFormat format) { return Tensor::empty(shape, DType::f32, Device::cpu(), format); }
Tensor undefined() { return Tensor(); }
const char* layout_name(MemoryFormat f) { return f == kCL ? "channels_last" : "row_major"; }

// ---------------------------------------------------------------- convolution

struct ConvCase {
  int64_t n, ci, h, w, co, k, stride, pad;
  bool bias;
  MemoryFormat layout;  // of every activation (inputs and outputs)
};

std::string str(const ConvCase& c) {
  return "conv N" + std::to_string(c.n) + " " + std::to_string(c.ci) + "->" + std::to_string(c.co) + " " +
         std::to_string(c.h) + "x" + std::to_string(c.w) + " k" + std::to_string(c.k) + " s" +
         std::to_string(c.stride) + " p" + std::to_string(c.pad) + (c.bias ? " bias " : " ") + layout_name(c.layout);
}

TEST(CpuVsRef, Conv2dForwardBackwardDataBackwardWeights) {
  const std::vector<ConvCase> cases = {
      {2, 3, 9, 7, 5, 3, 1, 1, true, kCL},      // odd sizes, 3 input channels (the stem)
      {1, 4, 8, 8, 6, 3, 2, 1, false, kCL},     // batch 1, stride 2
      {2, 5, 9, 7, 4, 1, 2, 0, true, kRowMajor},  // 1x1 stride-2 shortcut, row-major tensors
      {2, 16, 7, 7, 32, 3, 2, 0, false, kCL},   // blocked-channel JIT path, stride 2, no padding
      {3, 32, 6, 5, 16, 3, 1, 1, false, kRowMajor},
      // Stride 1 on at least 64 pixels: backward-data runs as a forward convolution with flipped weights.
      {2, 8, 9, 11, 12, 3, 1, 1, true, kCL},
      {2, 4, 10, 9, 6, 3, 1, 0, false, kCL},    // padding 0 becomes padding 2 on the forward route
      {1, 16, 8, 9, 8, 1, 1, 0, false, kRowMajor},
      // At most 24 channels on both sides, oneDNN's direct JIT kernel; above, its brgemm one (conv2d.cpp).
      {2, 24, 9, 8, 24, 3, 1, 1, false, kCL},
      {2, 32, 8, 9, 40, 3, 1, 1, true, kCL},
      // 3x3 stride-1 padding-1 with channels in multiples of 16 (>= 32 on one side): Winograd on nChw16c
      // (backends/cpu/conv2d_winograd.h); 16 channels share the channels-last bytes, others are reordered.
      {2, 32, 16, 16, 32, 3, 1, 1, false, kCL},
      {3, 16, 9, 7, 32, 3, 1, 1, true, kCL},    // odd sizes (partial 4x4 tiles), 16-channel input used in place
      {2, 64, 5, 7, 48, 3, 1, 1, true, kRowMajor},
      {1, 256, 8, 8, 256, 3, 1, 1, false, kCL},  // the longest sums of a ResNet18 at width 1
      // Outputs of at most 4 pixels go through im2col + sgemm (backends/cpu/conv2d_gemm.h).
      {3, 5, 2, 2, 7, 3, 1, 1, true, kCL},      // VGG's last stage: 2x2, padding 1 (5 of 9 taps in the padding)
      {2, 6, 3, 3, 4, 3, 2, 1, false, kRowMajor},  // stride 2 onto 2x2
      {2, 3, 3, 3, 5, 2, 1, 0, true, kCL},      // 2x2 kernel, no padding, 2x2 output
      {4, 9, 1, 1, 3, 3, 1, 1, false, kCL},     // 1x1 maps: only the centre tap is inside
      {2, 4, 5, 5, 6, 3, 2, 0, false, kCL},     // 2x2 output from 5x5 by stride 2
  };
  for (const ConvCase& c : cases) {
    const Conv2dParams p{c.stride, c.pad};
    const int64_t ho = conv_out_size(c.h, c.k, c.stride, c.pad), wo = conv_out_size(c.w, c.k, c.stride, c.pad);
    const Tensor x = rand({c.n, c.ci, c.h, c.w}, c.layout), w = rand({c.co, c.ci, c.k, c.k});
    const Tensor b = c.bias ? rand({c.co}) : undefined(), dy = rand({c.n, c.co, ho, wo}, c.layout);
    expect_cpu_matches_ref(
        [&] {
          Tensor y = empty({c.n, c.co, ho, wo}, c.layout), dx = empty(x.shape(), c.layout), dw = empty(w.shape(), kRowMajor);
          Tensor db = c.bias ? empty({c.co}, kRowMajor) : undefined();
          conv2d_forward(x, x, w, b, p, y);
          conv2d_backward_data(dy, dy, w, p, dx);
          conv2d_backward_weights(x, x, dy, p, dw, db);
          return c.bias ? Outputs{y, dx, dw, db} : Outputs{y, dx, dw};
        },
        c.bias ? std::vector<std::string>{"y", "dx", "dw", "db"} : std::vector<std::string>{"y", "dx", "dw"},
        cpu::conv_as_winograd(x.shape(), w.shape(), {c.n, c.co, ho, wo}, p) ? kWinograd : kReduce, str(c));
  }
}

TEST(CpuBackend, WinogradRouteTakesItsShapesOnAvx512) {
  // The route the cases above rely on: without it they would pass through the direct kernels unnoticed.
  if (cpu_winograd_status() != "on") GTEST_SKIP() << "Winograd route " << cpu_winograd_status();
  const Conv2dParams same{1, 1};
  EXPECT_TRUE(cpu::conv_as_winograd({2, 32, 16, 16}, {32, 32, 3, 3}, {2, 32, 16, 16}, same));
  EXPECT_TRUE(cpu::conv_as_winograd({3, 16, 9, 7}, {32, 16, 3, 3}, {3, 32, 9, 7}, same));
  EXPECT_TRUE(cpu::conv_as_winograd({2, 64, 5, 7}, {48, 64, 3, 3}, {2, 48, 5, 7}, same));
  // Not Winograd: 16 channels on both sides (slower than direct), a channel count off the 16-block, stride 2,
  // padding 0, a 1x1 kernel.
  EXPECT_FALSE(cpu::conv_as_winograd({2, 16, 32, 32}, {16, 16, 3, 3}, {2, 16, 32, 32}, same));
  EXPECT_FALSE(cpu::conv_as_winograd({2, 32, 8, 9}, {40, 32, 3, 3}, {2, 40, 8, 9}, same));
  EXPECT_FALSE(cpu::conv_as_winograd({2, 32, 8, 8}, {32, 32, 3, 3}, {2, 32, 4, 4}, Conv2dParams{2, 1}));
  EXPECT_FALSE(cpu::conv_as_winograd({2, 32, 8, 8}, {32, 32, 3, 3}, {2, 32, 6, 6}, Conv2dParams{1, 0}));
  EXPECT_FALSE(cpu::conv_as_winograd({2, 32, 8, 8}, {32, 32, 1, 1}, {2, 32, 8, 8}, Conv2dParams{1, 0}));
}

TEST(CpuVsRef, Conv2dMixedInputAndOutputLayouts) {
  // A row-major input into a channels-last output and the reverse: both go through a staging copy.
  const Conv2dParams p{1, 1};
  for (auto [in, out] : {std::pair{kRowMajor, kCL}, {kCL, kRowMajor}}) {
    const Tensor x = rand({2, 8, 5, 6}, in), w = rand({4, 8, 3, 3});
    expect_cpu_matches_ref(
        [&] {
          Tensor y = empty({2, 4, 5, 6}, out);
          conv2d_forward(x, x, w, undefined(), p, y);
          return Outputs{y};
        },
        {"y"}, kReduce, std::string("conv input ") + layout_name(in) + ", output " + layout_name(out));
  }
}

// ---------------------------------------------------------------- batch norm

TEST(CpuVsRef, BatchNormTrainEvalBackward) {
  const double momentum = 0.1, eps = 1e-5;
  struct Case {
    Shape shape;
    MemoryFormat layout;
  };
  // The last two are large enough for the cpu loops to run in parallel (VGG's BatchNorm1d head is [N,C]).
  for (const Case& c : {Case{{4, 16, 5, 3}, kCL}, Case{{1, 3, 7, 5}, kCL}, Case{{3, 5, 4, 4}, kRowMajor},
                        Case{{6, 10}, kRowMajor}, Case{{8, 24, 33, 31}, kCL}, Case{{130, 300}, kRowMajor}}) {
    const int64_t C = c.shape[1];
    const std::string context = "batch norm " + shape_str(c.shape) + " " + layout_name(c.layout);
    // Shifted, scaled inputs: the variance computation must not lose digits to cancellation.
    Tensor x = rand(c.shape, c.layout);
    scale(x, 3.0, x, x);
    axpy(x, 2.0, Tensor::full(c.shape, 1.0), x);
    const Tensor gamma = rand({C}), beta = rand({C}), dy = rand(c.shape, c.layout);
    const Tensor running_mean0 = rand({C}), running_var0 = random_tensor({C}, DType::f32, gen(), kRowMajor, 0.5, 1.5);
    expect_cpu_matches_ref(
        [&] {
          Tensor rm = running_mean0.clone(), rv = running_var0.clone();
          Tensor y = empty(c.shape, c.layout), mean = empty({C}, kRowMajor), var = empty({C}, kRowMajor);
          batch_norm_forward_train(x, x, gamma, beta, rm, rv, momentum, eps, y, mean, var);
          Tensor dx = empty(c.shape, c.layout), dgamma = empty({C}, kRowMajor), dbeta = empty({C}, kRowMajor);
          batch_norm_backward(x, dy, x, gamma, mean, var, eps, dx, dgamma, dbeta);
          Tensor y_eval = empty(c.shape, c.layout);
          batch_norm_forward_eval(x, x, gamma, beta, rm, rv, eps, y_eval);
          return Outputs{y, mean, var, rm, rv, dx, dgamma, dbeta, y_eval};
        },
        {"y", "save_mean", "save_var", "running_mean", "running_var", "dx", "dgamma", "dbeta", "y (eval)"}, kReduce,
        context);
  }
}

// ---------------------------------------------------------------- pooling

struct PoolCase {
  Shape shape;
  Pool2dParams p;
  MemoryFormat layout;
};

const std::vector<PoolCase> kPoolCases = {
    {{2, 5, 8, 8}, {2, 2, 0}, kCL},     // the classic 2x2
    {{1, 3, 9, 7}, {3, 2, 1}, kCL},     // batch 1, odd sizes, padding 1 (ResNet stem pooling)
    {{2, 4, 7, 9}, {3, 2, 0}, kRowMajor},
    {{2, 17, 6, 6}, {3, 1, 1}, kCL},    // stride 1, channels not a multiple of the vector width
};

std::string str(const PoolCase& c, const char* op) {
  return std::string(op) + " " + shape_str(c.shape) + " k" + std::to_string(c.p.kernel) + " s" +
         std::to_string(c.p.stride) + " p" + std::to_string(c.p.padding) + " " + layout_name(c.layout);
}

Shape pool_out(const PoolCase& c) {
  return {c.shape[0], c.shape[1], conv_out_size(c.shape[2], c.p.kernel, c.p.stride, c.p.padding),
          conv_out_size(c.shape[3], c.p.kernel, c.p.stride, c.p.padding)};
}

TEST(CpuVsRef, MaxPoolForwardAndWorkspaceRoutedBackward) {
  for (const PoolCase& c : kPoolCases) {
    // Distinct values: no ties, so both backends pick the same argmax.
    const Tensor x = distinct_random_tensor(c.shape, DType::f32, gen(), c.layout, 0.01);
    const Tensor dy = rand(pool_out(c), c.layout);
    expect_cpu_matches_ref(
        [&] {
          Tensor y = empty(pool_out(c), c.layout), dx = empty(c.shape, c.layout), workspace;
          max_pool2d_forward(x, x, c.p, y, workspace);
          max_pool2d_backward(dy, dy, workspace, c.p, dx);
          return Outputs{y, dx};
        },
        {"y", "dx"}, kExact, str(c, "max pool"));
  }
}

TEST(CpuVsRef, MaxPoolWorkspaceIsTheForwardsOpaqueRecord) {
  const Pool2dParams p{3, 2, 1};
  const Tensor x = rand({2, 8, 9, 9}, kCL);
  Tensor y = empty({2, 8, 5, 5}, kCL), workspace;
  max_pool2d_forward(x, x, p, y, workspace);
  EXPECT_EQ(workspace.dtype(), DType::u8);
  EXPECT_GT(workspace.numel(), 0);
  Tensor dx = empty(x.shape(), kCL);
  Tensor wrong = Tensor::empty({2, 8, 5, 5}, DType::i64);  // the reference backend's kind of workspace
  expect_error_containing([&] { max_pool2d_backward(y, y, wrong, p, dx); }, {"max_pool2d_backward", "workspace"});
}

TEST(CpuVsRef, AvgPoolForwardBackwardCountsPadding) {
  for (const PoolCase& c : kPoolCases) {
    const Tensor x = rand(c.shape, c.layout), dy = rand(pool_out(c), c.layout);
    expect_cpu_matches_ref(
        [&] {
          Tensor y = empty(pool_out(c), c.layout), dx = empty(c.shape, c.layout);
          avg_pool2d_forward(x, x, c.p, y);
          avg_pool2d_backward(dy, dy, c.p, dx);
          return Outputs{y, dx};
        },
        {"y", "dx"}, kExact, str(c, "avg pool"));
  }
}

TEST(CpuVsRef, GlobalAvgPool) {
  for (auto [shape, layout] : {std::pair{Shape{3, 20, 5, 7}, kCL}, {Shape{1, 7, 4, 4}, kRowMajor}}) {
    const Tensor x = rand(shape, layout), dy = rand({shape[0], shape[1]});
    expect_cpu_matches_ref(
        [&] {
          Tensor y = empty({shape[0], shape[1]}, kRowMajor), dx = empty(shape, layout);
          global_avg_pool_forward(x, x, y);
          global_avg_pool_backward(dy, dy, dx);
          return Outputs{y, dx};
        },
        {"y", "dx"}, kReduce, "global avg pool " + shape_str(shape) + " " + layout_name(layout));
  }
}

// ---------------------------------------------------------------- linear

TEST(CpuVsRef, Linear) {
  for (auto [n, k, m, bias] : {std::tuple{5, 37, 10, true}, {1, 64, 3, false}, {33, 17, 100, true}}) {
    const Tensor x = rand({n, k}), w = rand({m, k}), b = bias ? rand({m}) : undefined(), dy = rand({n, m});
    expect_cpu_matches_ref(
        [&] {
          Tensor y = empty({n, m}, kRowMajor), dx = empty({n, k}, kRowMajor), dw = empty({m, k}, kRowMajor);
          Tensor db = bias ? empty({m}, kRowMajor) : undefined();
          linear_forward(x, x, w, b, y);
          linear_backward_data(dy, dy, w, dx);
          linear_backward_weights(x, x, dy, dw, db);
          return bias ? Outputs{y, dx, dw, db} : Outputs{y, dx, dw};
        },
        bias ? std::vector<std::string>{"y", "dx", "dw", "db"} : std::vector<std::string>{"y", "dx", "dw"}, kReduce,
        "linear " + std::to_string(n) + "x" + std::to_string(k) + " -> " + std::to_string(m));
  }
}

// ---------------------------------------------------------------- relu, elementwise, concat

TEST(CpuVsRef, Relu) {
  for (auto [shape, layout] : {std::pair{Shape{2, 19, 5, 3}, kCL}, {Shape{1, 4, 3, 3}, kRowMajor}, {Shape{7, 13}, kRowMajor}}) {
    const Tensor x = rand(shape, layout), dy = rand(shape, layout);
    expect_cpu_matches_ref(
        [&] {
          Tensor y = empty(shape, layout), dx = empty(shape, layout);
          relu_forward(x, x, y);
          relu_backward(dy, dy, y, dx);
          return Outputs{y, dx};
        },
        {"y", "dx"}, kExact, "relu " + shape_str(shape) + " " + layout_name(layout));
  }
}

TEST(CpuVsRef, AddAxpyScaleAcrossLayouts) {
  const Shape shape{2, 6, 5, 3};
  const Tensor a = rand(shape, kCL), b = rand(shape, kRowMajor), acc0 = rand(shape, kCL);
  for (MemoryFormat out : {kCL, kRowMajor}) {
    expect_cpu_matches_ref(
        [&] {
          Tensor y = empty(shape, out), s = empty(shape, out), acc = acc0.contiguous(out).clone();
          add_forward(a, a, b, y);
          scale(a, -0.75, b, s);
          axpy(a, 0.5, a, acc);
          return Outputs{y, s, acc};
        },
        {"a + b", "scale", "axpy"}, kExact, std::string("elementwise into ") + layout_name(out));
  }
}

TEST(CpuVsRef, ConcatChannels) {
  // Mixed layouts of 4-D inputs, and the 2-D case.
  const std::vector<Tensor> xs4 = {rand({2, 3, 5, 4}, kCL), rand({2, 16, 5, 4}, kRowMajor), rand({2, 1, 5, 4}, kCL)};
  const std::vector<Tensor> xs2 = {rand({3, 4}), rand({3, 9})};
  for (MemoryFormat out : {kCL, kRowMajor}) {
    expect_cpu_matches_ref(
        [&] {
          Tensor y = empty({2, 20, 5, 4}, out);
          concat_channels_forward(xs4[0], xs4, y);
          return Outputs{y};
        },
        {"y"}, kExact, std::string("concat 4-D into ") + layout_name(out));
  }
  expect_cpu_matches_ref(
      [&] {
        Tensor y = empty({3, 13}, kRowMajor);
        concat_channels_forward(xs2[0], xs2, y);
        return Outputs{y};
      },
      {"y"}, kExact, "concat 2-D");
}

// ---------------------------------------------------------------- loss and optimizer

TEST(CpuVsRef, CrossEntropy) {
  for (auto [n, c] : {std::pair{7, 10}, {1, 3}, {64, 100}}) {
    Tensor logits = rand({n, c});
    scale(logits, 8.0, logits, logits);  // large logits: the max subtraction matters
    const Tensor labels = random_labels(n, c, gen());
    const std::string context = "cross entropy " + std::to_string(n) + "x" + std::to_string(c);
    expect_cpu_matches_ref(
        [&] {
          Tensor loss = empty({1}, kRowMajor), probs = empty({n, c}, kRowMajor);
          cross_entropy_forward(logits, logits, labels, loss, probs);
          return Outputs{loss, probs};
        },
        {"loss", "probs"}, kReduce, context);
    // The backward gets the same probabilities on both sides: probs - 1 at the label cancels, so the float32
    // rounding of two separately computed probabilities would dominate the comparison.
    const Tensor probs = rand({n, c}, kRowMajor);
    expect_cpu_matches_ref(
        [&] {
          Tensor dlogits = empty({n, c}, kRowMajor);
          cross_entropy_backward(probs, probs, labels, 0.7, dlogits);
          return Outputs{dlogits};
        },
        {"dlogits"}, kExact, context);
  }
}

TEST(CpuVsRef, SgdMomentumNesterovWeightDecay) {
  const std::vector<Tensor> params0 = {rand({8, 3, 3, 3}), rand({8}), rand({10, 8})};
  std::vector<Tensor> grads = {rand({8, 3, 3, 3}), rand({8}), rand({10, 8})};
  for (bool nesterov : {false, true}) {
    for (double momentum : {0.0, 0.9}) {
      if (nesterov && momentum == 0.0) continue;
      expect_cpu_matches_ref(
          [&] {
            std::vector<Tensor> params, buffers;
            for (const Tensor& p : params0) {
              params.push_back(p.clone());
              buffers.push_back(Tensor::zeros(p.shape()));
            }
            SgdParams sp{0.1, momentum, 5e-4, nesterov, true};
            const uint64_t version = params[0].storage()->version();
            sgd_update(params[0], params, grads, buffers, sp);
            EXPECT_GT(params[0].storage()->version(), version) << "sgd_update must bump the parameter's version";
            sp.first_step = false;
            sgd_update(params[0], params, grads, buffers, sp);
            Outputs out = params;
            if (momentum != 0.0) out.insert(out.end(), buffers.begin(), buffers.end());
            return out;
          },
          momentum != 0.0 ? std::vector<std::string>{"w", "b", "fc", "v(w)", "v(b)", "v(fc)"}
                          : std::vector<std::string>{"w", "b", "fc"},
          kExact, std::string("sgd momentum ") + std::to_string(momentum) + (nesterov ? " nesterov" : ""));
    }
  }
}

// ---------------------------------------------------------------- checks and caches of the cpu backend

TEST(CpuBackend, ShapeErrorsNameTheOpAndBothShapes) {
  const Tensor x = rand({2, 3, 8, 8}, kCL), w = rand({4, 5, 3, 3});
  Tensor y = empty({2, 4, 8, 8}, kCL);
  expect_error_containing([&] { conv2d_forward(x, x, w, undefined(), Conv2dParams{1, 1}, y); },
                          {"conv2d_forward", "[2, 3, 8, 8]", "[4, 5, 3, 3]"});
  const Tensor w_ok = rand({4, 3, 3, 3});
  Tensor y_bad = empty({2, 4, 7, 8}, kCL);
  expect_error_containing([&] { conv2d_forward(x, x, w_ok, undefined(), Conv2dParams{1, 1}, y_bad); },
                          {"conv2d_forward", "[2, 4, 7, 8]", "[2, 4, 8, 8]"});
  Tensor a = rand({3, 4}), b = rand({4, 3}), out = empty({3, 4}, kRowMajor);
  expect_error_containing([&] { add_forward(a, a, b, out); }, {"add_forward", "[3, 4]", "[4, 3]"});
  // A float64 tensor never reaches the cpu backend through dispatch; called directly, it is refused.
  const Tensor xd = x.to(DType::f64);
  expect_error_containing([&] { conv2d_forward.get(Impl::cpu)(xd, w_ok, undefined(), Conv2dParams{1, 1}, y); },
                          {"conv2d_forward", "float64"});
}

// One small training step through every primitive-backed op; returns the loss.
struct TinyNet {
  Tensor x = rand({4, 3, 8, 8}, kCL), w1 = rand({8, 3, 3, 3}), w2 = rand({16, 8, 3, 3}), fc = rand({5, 16});
  Tensor gamma = rand({8}), beta = rand({8}), rm = Tensor::zeros({8}), rv = Tensor::full({8}, 1.0);
  Tensor labels = random_labels(4, 5, gen());

  double step() {
    const Conv2dParams p1{1, 1}, p2{2, 1};
    const Pool2dParams pool{2, 2, 0};
    Tensor a1 = empty({4, 8, 8, 8}, kCL), b1 = empty({4, 8, 8, 8}, kCL), r1 = empty({4, 8, 8, 8}, kCL);
    Tensor m1 = empty({4, 8, 4, 4}, kCL), a2 = empty({4, 16, 2, 2}, kCL), g = empty({4, 16}, kRowMajor);
    Tensor logits = empty({4, 5}, kRowMajor), loss = empty({1}, kRowMajor), probs = empty({4, 5}, kRowMajor);
    Tensor mean = empty({8}, kRowMajor), var = empty({8}, kRowMajor), ws;
    conv2d_forward(x, x, w1, undefined(), p1, a1);
    batch_norm_forward_train(a1, a1, gamma, beta, rm, rv, 0.1, 1e-5, b1, mean, var);
    relu_forward(b1, b1, r1);
    max_pool2d_forward(r1, r1, pool, m1, ws);
    conv2d_forward(m1, m1, w2, undefined(), p2, a2);
    global_avg_pool_forward(a2, a2, g);
    linear_forward(g, g, fc, undefined(), logits);
    cross_entropy_forward(logits, logits, labels, loss, probs);

    Tensor dlogits = empty({4, 5}, kRowMajor), dg = empty({4, 16}, kRowMajor), dfc = empty({5, 16}, kRowMajor);
    Tensor da2 = empty(a2.shape(), kCL), dm1 = empty(m1.shape(), kCL), dw2 = empty(w2.shape(), kRowMajor);
    Tensor dr1 = empty(r1.shape(), kCL), db1 = empty(b1.shape(), kCL), da1 = empty(a1.shape(), kCL);
    Tensor dw1 = empty(w1.shape(), kRowMajor), dgamma = empty({8}, kRowMajor), dbeta = empty({8}, kRowMajor);
    Tensor none;
    cross_entropy_backward(probs, probs, labels, 1.0, dlogits);
    linear_backward_data(dlogits, dlogits, fc, dg);
    linear_backward_weights(g, g, dlogits, dfc, none);
    global_avg_pool_backward(dg, dg, da2);
    conv2d_backward_data(da2, da2, w2, p2, dm1);
    conv2d_backward_weights(m1, m1, da2, p2, dw2, none);
    max_pool2d_backward(dm1, dm1, ws, pool, dr1);
    relu_backward(dr1, dr1, r1, db1);
    batch_norm_backward(db1, db1, a1, gamma, mean, var, 1e-5, da1, dgamma, dbeta);
    conv2d_backward_weights(x, x, da1, p1, dw1, none);  // the first conv needs no input gradient

    std::vector<Tensor> params = {w1, w2, fc, gamma, beta}, grads = {dw1, dw2, dfc, dgamma, dbeta}, buffers;
    for (const Tensor& t : params) buffers.push_back(Tensor::zeros(t.shape()));
    sgd_update(w1, params, grads, buffers, SgdParams{0.01, 0.0, 0.0, false, false});
    return loss.item();
  }
};

TEST(CpuBackend, SteadyStateCreatesNoPrimitives) {
  TinyNet net;
  net.step();  // creates every primitive the step needs
  const size_t primitives = cpu_primitive_creations(), entries = cpu_cache_entries();
  const size_t reorders = cpu_weight_reorders();
  net.step();
  EXPECT_EQ(cpu_primitive_creations(), primitives) << "a second identical step created oneDNN primitives";
  EXPECT_EQ(cpu_cache_entries(), entries);
  // The optimizer bumped both conv weights' versions: each is reordered at most once per pass that reads it
  // (w1: forward; w2: forward and backward-data, see ConvWeightsAreReorderedOncePerFormatPerVersion).
  EXPECT_LE(cpu_weight_reorders() - reorders, 3u);
}

class ConvWeightsReorders : public ::testing::TestWithParam<int64_t> {};

TEST_P(ConvWeightsReorders, OncePerFormatPerVersion) {
  // oneDNN 2.6 on AVX-512 runs the direct forward as brgconv (weights Acdb32a) and backward-data as jit
  // (ABcd16a16b); forcing either onto the other's format falls back to its reference implementation.
  // So a step reorders each weight once per format, and the two copies coexist without evicting each other.
  // 32->40 takes that direct route; 32->32 the Winograd one, whose two passes share one format.
  const int64_t co = GetParam();
  const Conv2dParams p{1, 1};
  const Tensor x = rand({2, 32, 8, 8}, kCL), dy = rand({2, co, 8, 8}, kCL);
  Tensor w = rand({co, 32, 3, 3}), y = empty({2, co, 8, 8}, kCL), dx = empty(x.shape(), kCL);
  size_t last = cpu_weight_reorders();
  auto new_reorders = [&] {
    const size_t now = cpu_weight_reorders(), n = now - last;
    last = now;
    return n;
  };
  conv2d_forward(x, x, w, undefined(), p, y);
  EXPECT_LE(new_reorders(), 1u);
  conv2d_forward(x, x, w, undefined(), p, y);
  EXPECT_EQ(new_reorders(), 0u) << "unchanged weights were reordered again for the forward";
  conv2d_backward_data(dy, dy, w, p, dx);
  const size_t formats = 1 + new_reorders();  // 0: shares the forward's copy, 1: a format of its own
  EXPECT_LE(formats, 2u);
  conv2d_forward(x, x, w, undefined(), p, y);
  conv2d_backward_data(dy, dy, w, p, dx);
  EXPECT_EQ(new_reorders(), 0u) << "the forward and backward-data copies evicted each other";
  w.storage()->bump_version();  // what an optimizer step does
  for (int i = 0; i < 2; ++i) {
    conv2d_forward(x, x, w, undefined(), p, y);
    conv2d_backward_data(dy, dy, w, p, dx);
  }
  EXPECT_EQ(new_reorders(), formats) << "a new weights version must be reordered exactly once per format";
}

INSTANTIATE_TEST_SUITE_P(DirectAndWinograd, ConvWeightsReorders, ::testing::Values(int64_t{40}, int64_t{32}));

TEST(CpuBackend, WinogradSteadyStateCreatesAndAllocatesNothing) {
  // The route's support probe, primitives, nChw16c copies and weights-gradient buffer: all made on the
  // first call of a shape, none on the next.
  const Conv2dParams p{1, 1};
  const Tensor x = rand({2, 32, 12, 12}, kCL), dy = rand({2, 48, 12, 12}, kCL), w = rand({48, 32, 3, 3});
  const Tensor b = rand({48});
  Tensor y = empty(dy.shape(), kCL), dx = empty(x.shape(), kCL), dw = empty(w.shape(), kRowMajor), db = empty({48}, kRowMajor);
  auto passes = [&] {
    conv2d_forward(x, x, w, b, p, y);
    conv2d_backward_data(dy, dy, w, p, dx);
    conv2d_backward_weights(x, x, dy, p, dw, db);
  };
  passes();
  const size_t primitives = cpu_primitive_creations(), entries = cpu_cache_entries(), allocs = cpu_allocation_count();
  passes();
  EXPECT_EQ(cpu_primitive_creations(), primitives);
  EXPECT_EQ(cpu_cache_entries(), entries);
  EXPECT_EQ(cpu_allocation_count(), allocs) << "a steady-state Winograd call allocated memory";
}

TEST(CpuBackend, ReorderedWeightsFollowTheParameterNotItsAddress) {
  // A freed parameter's memory is reused by the caching allocator for the next tensor of the same size,
  // with a fresh storage version: the weights cache must not hand back the old parameter's copy.
  const Conv2dParams p{1, 1};
  const Tensor x = rand({1, 16, 6, 6}, kCL);
  Tensor y1 = empty({1, 16, 6, 6}, kCL), y2 = empty({1, 16, 6, 6}, kCL);
  {
    Tensor w = rand({16, 16, 3, 3});
    conv2d_forward(x, x, w, undefined(), p, y1);
  }
  Tensor w2 = rand({16, 16, 3, 3});
  conv2d_forward(x, x, w2, undefined(), p, y2);
  Tensor expected = empty({1, 16, 6, 6}, kCL);
  {
    ReferenceModeGuard guard;
    conv2d_forward(x, x, w2, undefined(), p, expected);
  }
  EXPECT_LT(max_rel_error(y2, expected), kReduce);
}

}  // namespace
