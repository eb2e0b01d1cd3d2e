// What only the oneDNN + OpenMP backend (backends/cpu) has; its kernel-by-kernel comparison with the reference
// backend is Cpu/BackendVsRef.* in test_backend_vs_ref.cpp. Here: the Winograd route's shapes, the max-pool
// workspace's kind, shape errors, the steady state creates no oneDNN primitive, the conv weights cache
// reorders once per format per step and follows the parameter, not its address, and backward-weights splits
// the minibatch of small weights between the threads itself.
#include <gtest/gtest.h>
#include <omp.h>

#include <string>
#include <vector>

#include "backends/cpu/conv2d_split_batch.h"
#include "backends/cpu/conv2d_winograd.h"
#include "backends/cpu/onednn_common.h"
#include "backends/kernels.h"
#include "core/storage.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

constexpr double kReduce = 1e-5;  // float32 sums in a different order than the double reference

constexpr MemoryFormat kCL = MemoryFormat::channels_last;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;

Generator& gen() {
  static Generator g(20240611);
  return g;
}

Tensor rand(const Shape& shape, MemoryFormat format = kRowMajor) { return random_tensor(shape, DType::f32, gen(), format); }
Tensor empty(const Shape& shape, MemoryFormat format) { return Tensor::empty(shape, DType::f32, Device::cpu(), format); }
Tensor undefined() { return Tensor(); }

TEST(CpuBackend, WinogradRouteTakesItsShapesOnAvx512) {
  // The route Cpu/BackendVsRef.Conv2dForwardBackwardDataBackwardWeights/cpu relies on: without it its Winograd
  // cases would pass through the direct kernels unnoticed.
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

TEST(CpuBackend, MaxPoolWorkspaceIsTheForwardsOpaqueRecord) {
  const Pool2dParams p{3, 2, 1};
  const Tensor x = rand({2, 8, 9, 9}, kCL);
  Tensor y = empty({2, 8, 5, 5}, kCL), workspace;
  max_pool2d_forward(x, p, y, workspace);
  EXPECT_EQ(workspace.dtype(), DType::u8);
  EXPECT_GT(workspace.numel(), 0);
  Tensor dx = empty(x.shape(), kCL);
  Tensor wrong = Tensor::empty({2, 8, 5, 5}, DType::i64);  // the reference backend's kind of workspace
  expect_error_containing([&] { max_pool2d_backward(y, wrong, p, dx); }, {"max_pool2d_backward", "workspace"});
}

// ---------------------------------------------------------------- checks and caches of the cpu backend

TEST(CpuBackend, ShapeErrorsNameTheOpAndBothShapes) {
  const Tensor x = rand({2, 3, 8, 8}, kCL), w = rand({4, 5, 3, 3});
  Tensor y = empty({2, 4, 8, 8}, kCL);
  expect_error_containing([&] { conv2d_forward(x, w, undefined(), Conv2dParams{1, 1}, y); },
                          {"conv2d_forward", "[2, 3, 8, 8]", "[4, 5, 3, 3]"});
  const Tensor w_ok = rand({4, 3, 3, 3});
  Tensor y_bad = empty({2, 4, 7, 8}, kCL);
  expect_error_containing([&] { conv2d_forward(x, w_ok, undefined(), Conv2dParams{1, 1}, y_bad); },
                          {"conv2d_forward", "[2, 4, 7, 8]", "[2, 4, 8, 8]"});
  Tensor a = rand({3, 4}), b = rand({4, 3}), out = empty({3, 4}, kRowMajor);
  expect_error_containing([&] { add_forward(a, b, out); }, {"add_forward", "[3, 4]", "[4, 3]"});
  // A float64 tensor never reaches the cpu backend through dispatch; called directly, it is refused.
  const Tensor xd = x.to(DType::f64);
  expect_error_containing([&] { conv2d_forward.on(Impl::cpu)(xd, w_ok, undefined(), Conv2dParams{1, 1}, y); },
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
    conv2d_forward(x, w1, undefined(), p1, a1);
    batch_norm_forward_train(a1, gamma, beta, rm, rv, 0.1, 1e-5, b1, mean, var);
    relu_forward(b1, r1);
    max_pool2d_forward(r1, pool, m1, ws);
    conv2d_forward(m1, w2, undefined(), p2, a2);
    global_avg_pool_forward(a2, g);
    linear_forward(g, fc, undefined(), logits);
    cross_entropy_forward(logits, labels, loss, probs);

    Tensor dlogits = empty({4, 5}, kRowMajor), dg = empty({4, 16}, kRowMajor), dfc = empty({5, 16}, kRowMajor);
    Tensor da2 = empty(a2.shape(), kCL), dm1 = empty(m1.shape(), kCL), dw2 = empty(w2.shape(), kRowMajor);
    Tensor dr1 = empty(r1.shape(), kCL), db1 = empty(b1.shape(), kCL), da1 = empty(a1.shape(), kCL);
    Tensor dw1 = empty(w1.shape(), kRowMajor), dgamma = empty({8}, kRowMajor), dbeta = empty({8}, kRowMajor);
    Tensor none;
    cross_entropy_backward(probs, labels, 1.0, dlogits);
    linear_backward_data(dlogits, fc, dg);
    linear_backward_weights(g, dlogits, dfc, none);
    global_avg_pool_backward(dg, da2);
    conv2d_backward_data(da2, w2, p2, dm1);
    conv2d_backward_weights(m1, da2, p2, dw2, none);
    max_pool2d_backward(dm1, ws, pool, dr1);
    relu_backward(dr1, r1, db1);
    batch_norm_backward(db1, a1, gamma, mean, var, 1e-5, da1, dgamma, dbeta);
    conv2d_backward_weights(x, da1, p1, dw1, none);  // the first conv needs no input gradient

    std::vector<Tensor> params = {w1, w2, fc, gamma, beta}, grads = {dw1, dw2, dfc, dgamma, dbeta}, buffers;
    for (const Tensor& t : params) buffers.push_back(Tensor::zeros(t.shape()));
    sgd_update(params, grads, buffers, SgdParams{0.01, 0.0, 0.0, false});
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
  conv2d_forward(x, w, undefined(), p, y);
  EXPECT_LE(new_reorders(), 1u);
  conv2d_forward(x, w, undefined(), p, y);
  EXPECT_EQ(new_reorders(), 0u) << "unchanged weights were reordered again for the forward";
  conv2d_backward_data(dy, w, p, dx);
  const size_t formats = 1 + new_reorders();  // 0: shares the forward's copy, 1: a format of its own
  EXPECT_LE(formats, 2u);
  conv2d_forward(x, w, undefined(), p, y);
  conv2d_backward_data(dy, w, p, dx);
  EXPECT_EQ(new_reorders(), 0u) << "the forward and backward-data copies evicted each other";
  w.storage()->bump_version();  // what an optimizer step does
  for (int i = 0; i < 2; ++i) {
    conv2d_forward(x, w, undefined(), p, y);
    conv2d_backward_data(dy, w, p, dx);
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
    conv2d_forward(x, w, b, p, y);
    conv2d_backward_data(dy, w, p, dx);
    conv2d_backward_weights(x, dy, p, dw, db);
  };
  passes();
  const size_t primitives = cpu_primitive_creations(), entries = cpu_cache_entries(), allocs = cpu_allocation_count();
  passes();
  EXPECT_EQ(cpu_primitive_creations(), primitives);
  EXPECT_EQ(cpu_cache_entries(), entries);
  EXPECT_EQ(cpu_allocation_count(), allocs) << "a steady-state Winograd call allocated memory";
}

TEST(CpuBackend, BothBackwardPassesInOneCallGiveTheTwoCallsBits) {
  // conv2d_backward reorders dy once for both passes on the Winograd route: the same primitives on the
  // same bytes, so the same bits as the two slots, on every route and with either gradient left out.
  struct Case {
    int64_t ci, co;
    bool bias;
  };
  const Conv2dParams p{1, 1};
  for (const Case c : {Case{32, 48, true}, Case{48, 32, false}, Case{16, 16, false}, Case{32, 40, true}}) {
    const Tensor x = rand({2, c.ci, 12, 12}, kCL), dy = rand({2, c.co, 12, 12}, kCL), w = rand({c.co, c.ci, 3, 3});
    const std::string route = cpu::conv_as_winograd(x.shape(), w.shape(), dy.shape(), p) ? "winograd" : "direct";
    const std::string label = std::to_string(c.ci) + "->" + std::to_string(c.co) + " (" + route + ")";
    auto outputs = [&] {
      return std::vector<Tensor>{empty(x.shape(), kCL), empty(w.shape(), kRowMajor),
                                 c.bias ? empty({c.co}, kRowMajor) : undefined()};
    };
    std::vector<Tensor> two = outputs(), one = outputs(), data_only = outputs(), weights_only = outputs();
    conv2d_backward_data(dy, w, p, two[0]);
    conv2d_backward_weights(x, dy, p, two[1], two[2]);
    conv2d_backward(x, dy, w, p, one[0], one[1], one[2]);
    Tensor none;
    conv2d_backward(x, dy, w, p, data_only[0], none, none);
    conv2d_backward(x, dy, w, p, none, weights_only[1], weights_only[2]);
    for (int i = 0; i < 3; ++i) {
      if (!two[i].defined()) continue;
      EXPECT_EQ(one[i].to_double_vector(), two[i].to_double_vector()) << label << " output " << i;
      const Tensor& alone = i == 0 ? data_only[0] : weights_only[i];
      EXPECT_EQ(alone.to_double_vector(), two[i].to_double_vector()) << label << " output " << i << " alone";
    }
  }
  Tensor none, dw = empty({16, 16, 3, 3}, kRowMajor), db = empty({16}, kRowMajor);
  const Tensor x = rand({1, 16, 4, 4}, kCL), dy = rand({1, 16, 4, 4}, kCL), w = rand({16, 16, 3, 3});
  EXPECT_THROW(conv2d_backward(x, dy, w, p, none, none, db), Error) << "db without dw";
  EXPECT_THROW(conv2d_backward(x, dy, rand({16, 8, 3, 3}), p, none, dw, none), Error) << "w and dw disagree";
}

TEST(CpuBackend, ReorderedWeightsFollowTheParameterNotItsAddress) {
  // A freed parameter's memory is reused by the caching allocator for the next tensor of the same size,
  // with a fresh storage version: the weights cache must not hand back the old parameter's copy.
  const Conv2dParams p{1, 1};
  const Tensor x = rand({1, 16, 6, 6}, kCL);
  Tensor y1 = empty({1, 16, 6, 6}, kCL), y2 = empty({1, 16, 6, 6}, kCL);
  {
    Tensor w = rand({16, 16, 3, 3});
    conv2d_forward(x, w, undefined(), p, y1);
  }
  Tensor w2 = rand({16, 16, 3, 3});
  conv2d_forward(x, w2, undefined(), p, y2);
  Tensor expected = empty({1, 16, 6, 6}, kCL);
  {
    ReferenceModeGuard guard;
    conv2d_forward(x, w2, undefined(), p, expected);
  }
  EXPECT_LT(max_rel_error(y2, expected), kReduce);
}

TEST(CpuBackend, BackwardWeightsSplitsTheMinibatchOfSmallWeights) {
  // Which convolutions take the split (backends/cpu/conv2d_split_batch.h): small weights, a minibatch the
  // team divides.
  EXPECT_EQ(cpu::backward_weights_split({6, 8, 7, 9}, {12, 8, 3, 3}, 3), 3);
  EXPECT_EQ(cpu::backward_weights_split({6, 8, 7, 9}, {12, 8, 3, 3}, 2), 2);
  EXPECT_EQ(cpu::backward_weights_split({5, 8, 7, 9}, {12, 8, 3, 3}, 2), 1) << "5 images on 2 threads";
  EXPECT_EQ(cpu::backward_weights_split({6, 8, 7, 9}, {12, 8, 3, 3}, 1), 1);
  EXPECT_EQ(cpu::backward_weights_split({6, 512, 4, 4}, {512, 512, 3, 3}, 2), 1) << "9 MiB of weights";

  // The shares' sum against the reference backend, on 2 and 3 threads: a share reading the wrong images,
  // or a gradient left out of the sum, is off by a whole share's contribution.
  struct Case {
    int64_t ci, co, k, stride, pad;
    bool bias;
  };
  const int saved_threads = omp_get_max_threads();
  for (const int threads : {2, 3}) {
    omp_set_num_threads(threads);
    for (const Case c : {Case{8, 12, 3, 1, 1, true}, Case{12, 3, 3, 1, 1, false}, Case{12, 24, 1, 1, 0, false},
                         Case{16, 32, 3, 2, 1, true}}) {
      const std::string label = std::to_string(threads) + " threads, " + std::to_string(c.ci) + "->" +
                                std::to_string(c.co) + " k" + std::to_string(c.k) + " s" + std::to_string(c.stride);
      const Conv2dParams p{c.stride, c.pad};
      const Shape xs{6, c.ci, 9, 7}, ws{c.co, c.ci, c.k, c.k};
      ASSERT_EQ(cpu::backward_weights_split(xs, ws, threads), threads) << label;
      const Shape ys = conv2d_output_shape(xs, ws, p);
      const Tensor x = rand(xs, kCL), dy = rand(ys, kCL);
      auto gradients = [&] {
        std::vector<Tensor> g{empty(ws, kRowMajor), c.bias ? empty({c.co}, kRowMajor) : undefined()};
        conv2d_backward_weights(x, dy, p, g[0], g[1]);
        return g;
      };
      const std::vector<Tensor> split = gradients(), again = gradients();
      std::vector<Tensor> expected;
      {
        ReferenceModeGuard guard;
        expected = gradients();
      }
      for (int i = 0; i < (c.bias ? 2 : 1); ++i) {
        EXPECT_LT(max_rel_error(split[i], expected[i]), kReduce) << label << (i ? " db" : " dw");
        EXPECT_EQ(split[i].to_double_vector(), again[i].to_double_vector()) << label << ": not repeatable";
      }
    }
  }
  omp_set_num_threads(saved_threads);
}

}  // namespace
