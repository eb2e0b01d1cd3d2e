// The CUDA backend (backends/cuda) against the reference backend, kernel slot by kernel slot: every output
// of every forward and backward pass, on random float32 inputs with odd sizes, stride 2, padding 0/1,
// batch 1, channels-last and row-major tensors. The same inputs are copied to the GPU; the reference result
// is the same slot called on the CPU copies under ReferenceModeGuard (plain loops accumulating in double).
// Also: float64 on the GPU, copies between host and device, the caching allocator's steady state, error
// messages, and bitwise reproducibility (deterministic mode).
//
// Every test skips (GTEST_SKIP) when no CUDA device answers: CPU-only builds, machines without a GPU.
// The file uses only the framework's API, so it compiles in every build.
//
// Tolerances are relative to the largest magnitude of the compared tensors (testing::max_rel_error). TF32
// is off in the backend (cuDNN FMA math, cuBLAS default math), so float32 products are exact float32:
//  - 1e-6 where both backends round the same double-precision result once (elementwise ops, copies,
//    pooling, global pooling, SGD, concat, the softmax / cross-entropy, which the GPU also computes in double);
//  - 1e-5 for float32 sums in another order than the reference (cuBLAS GEMMs over <= 100 terms) and for
//    batch norm (double statistics, float32 per-element normalisation);
//  - 1e-4 for cuDNN convolutions: cuDNN may pick Winograd or FFT algorithms (deterministic, FMA math),
//    whose transforms round more than a direct sum of a few hundred products.
//  - float64 on the GPU against the float64 reference: 1e-10.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "backends/device_query.h"
#include "backends/kernels.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

#define SKIP_WITHOUT_CUDA()                                                                                     \
  do {                                                                                                          \
    if (!cuda_device_available())                                                                               \
      GTEST_SKIP() << "no CUDA device: this build has no CUDA backend or the machine no driver/GPU; CUDA tests " \
                      "skipped";                                                                                \
  } while (0)

namespace {

constexpr double kExact = 1e-6;
constexpr double kReduce = 1e-5;
constexpr double kConv = 1e-4;
constexpr double kDouble = 1e-10;

constexpr MemoryFormat kCL = MemoryFormat::channels_last;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;

using Outputs = std::vector<Tensor>;
// An op run on one device: builds its inputs with on(), its outputs with empty(), returns its outputs.
using DeviceOp = std::function<Outputs(Device)>;

Generator& gen() {
  static Generator g(20240917);
  return g;
}

Tensor rand(const Shape& shape, MemoryFormat format = kRowMajor, DType dtype = DType::f32) {
  return random_tensor(shape, dtype, gen(), format);
}
// t on `device`, in the same layout (Tensor::to keeps channels-last / row-major). Undefined stays undefined.
Tensor on(const Tensor& t, Device device) { return t.defined() ? t.to(device) : t; }
Tensor empty(const Shape& shape, MemoryFormat format, Device device, DType dtype = DType::f32) {
  return Tensor::empty(shape, dtype, device, format);
}
Tensor undefined() { return Tensor(); }
const char* layout_name(MemoryFormat f) { return f == kCL ? "channels_last" : "row_major"; }

// Runs `op` on the GPU and on the CPU under ReferenceModeGuard and expects every output to agree within `tol`.
void expect_cuda_matches_ref(const DeviceOp& op, const std::vector<std::string>& names, double tol,
                             const std::string& context) {
  const Outputs gpu = op(Device::cuda());
  Outputs ref;
  {
    ReferenceModeGuard guard;
    ref = op(Device::cpu());
  }
  ASSERT_EQ(gpu.size(), names.size()) << context;
  ASSERT_EQ(ref.size(), names.size()) << context;
  for (size_t i = 0; i < names.size(); ++i) {
    ASSERT_TRUE(gpu[i].device().is_cuda()) << context << " " << names[i] << " is " << gpu[i].str();
    ASSERT_EQ(gpu[i].shape(), ref[i].shape()) << context << " " << names[i];
    const double err = max_rel_error(gpu[i], ref[i]);
    EXPECT_LT(err, tol) << context << ": " << names[i] << " differs from the reference (max relative error " << err
                        << ", tolerance " << tol << ")";
  }
}

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

DeviceOp conv_op(const ConvCase& c, DType dtype) {
  const Conv2dParams p{c.stride, c.pad};
  const int64_t ho = conv_out_size(c.h, c.k, c.stride, c.pad), wo = conv_out_size(c.w, c.k, c.stride, c.pad);
  const Tensor x = rand({c.n, c.ci, c.h, c.w}, c.layout, dtype), w = rand({c.co, c.ci, c.k, c.k}, kRowMajor, dtype);
  const Tensor b = c.bias ? rand({c.co}, kRowMajor, dtype) : undefined();
  const Tensor dy = rand({c.n, c.co, ho, wo}, c.layout, dtype);
  return [=](Device d) {
    const Tensor xd = on(x, d), wd = on(w, d), bd = on(b, d), dyd = on(dy, d);
    Tensor y = empty({c.n, c.co, ho, wo}, c.layout, d, dtype), dx = empty(x.shape(), c.layout, d, dtype);
    Tensor dw = empty(w.shape(), kRowMajor, d, dtype);
    Tensor db = c.bias ? empty({c.co}, kRowMajor, d, dtype) : undefined();
    conv2d_forward(xd, xd, wd, bd, p, y);
    conv2d_backward_data(dyd, dyd, wd, p, dx);
    conv2d_backward_weights(xd, xd, dyd, p, dw, db);
    return c.bias ? Outputs{y, dx, dw, db} : Outputs{y, dx, dw};
  };
}

std::vector<std::string> conv_names(bool bias) {
  return bias ? std::vector<std::string>{"y", "dx", "dw", "db"} : std::vector<std::string>{"y", "dx", "dw"};
}

const std::vector<ConvCase> kConvCases = {
    {2, 3, 9, 7, 5, 3, 1, 1, true, kCL},        // odd sizes, 3 input channels (the stem)
    {1, 4, 8, 8, 6, 3, 2, 1, false, kCL},       // batch 1, stride 2
    {2, 5, 9, 7, 4, 1, 2, 0, true, kRowMajor},  // 1x1 stride-2 shortcut, row-major tensors
    {2, 16, 7, 7, 32, 3, 2, 0, false, kCL},     // stride 2, no padding
    {3, 32, 6, 5, 16, 3, 1, 1, false, kRowMajor},
    {4, 64, 8, 8, 64, 3, 1, 1, false, kCL},     // a ResNet block's shape: Winograd territory
};

TEST(CudaVsRef, Conv2dForwardBackwardDataBackwardWeights) {
  SKIP_WITHOUT_CUDA();
  for (const ConvCase& c : kConvCases) expect_cuda_matches_ref(conv_op(c, DType::f32), conv_names(c.bias), kConv, str(c));
}

TEST(CudaVsRef, Conv2dMixedInputAndOutputLayouts) {
  SKIP_WITHOUT_CUDA();
  // A row-major input into a channels-last output and the reverse: the backend stages one side.
  const Conv2dParams p{1, 1};
  for (auto [in, out] : {std::pair{kRowMajor, kCL}, {kCL, kRowMajor}}) {
    const Tensor x = rand({2, 8, 5, 6}, in), w = rand({4, 8, 3, 3});
    expect_cuda_matches_ref(
        [&](Device d) {
          Tensor y = empty({2, 4, 5, 6}, out, d);
          const Tensor xd = on(x, d);
          conv2d_forward(xd, xd, on(w, d), undefined(), p, y);
          return Outputs{y};
        },
        {"y"}, kConv, std::string("conv input ") + layout_name(in) + ", output " + layout_name(out));
  }
}

// ---------------------------------------------------------------- batch norm

TEST(CudaVsRef, BatchNormTrainEvalBackward) {
  SKIP_WITHOUT_CUDA();
  const double momentum = 0.1, eps = 1e-5;
  struct Case {
    Shape shape;
    MemoryFormat layout;
  };
  for (const Case& c : {Case{{4, 16, 5, 3}, kCL}, Case{{1, 3, 7, 5}, kCL}, Case{{3, 5, 4, 4}, kRowMajor},
                        Case{{6, 10}, kRowMajor}, Case{{16, 40, 9, 9}, kCL}}) {
    const int64_t C = c.shape[1];
    const std::string context = "batch norm " + shape_str(c.shape) + " " + layout_name(c.layout);
    // Shifted, scaled inputs: the variance computation must not lose digits to cancellation.
    Tensor x = rand(c.shape, c.layout);
    scale(x, 3.0, x, x);
    axpy(x, 2.0, Tensor::full(c.shape, 1.0), x);
    const Tensor gamma = rand({C}), beta = rand({C}), dy = rand(c.shape, c.layout);
    const Tensor running_mean0 = rand({C}), running_var0 = random_tensor({C}, DType::f32, gen(), kRowMajor, 0.5, 1.5);
    expect_cuda_matches_ref(
        [&](Device d) {
          const Tensor xd = on(x, d), gd = on(gamma, d), bd = on(beta, d), dyd = on(dy, d);
          Tensor rm = running_mean0.to(d).clone(), rv = running_var0.to(d).clone();
          Tensor y = empty(c.shape, c.layout, d), mean = empty({C}, kRowMajor, d), var = empty({C}, kRowMajor, d);
          batch_norm_forward_train(xd, xd, gd, bd, rm, rv, momentum, eps, y, mean, var);
          Tensor dx = empty(c.shape, c.layout, d), dgamma = empty({C}, kRowMajor, d), dbeta = empty({C}, kRowMajor, d);
          batch_norm_backward(xd, dyd, xd, gd, mean, var, eps, dx, dgamma, dbeta);
          Tensor y_eval = empty(c.shape, c.layout, d);
          batch_norm_forward_eval(xd, xd, gd, bd, rm, rv, eps, y_eval);
          return Outputs{y, mean, var, rm, rv, dx, dgamma, dbeta, y_eval};
        },
        {"y", "save_mean", "save_var (biased)", "running_mean", "running_var (unbiased, momentum 0.1)", "dx", "dgamma",
         "dbeta", "y (eval)"},
        kReduce, context);
  }
}

TEST(CudaVsRef, BatchNormBackwardWithoutAffineGradients) {
  SKIP_WITHOUT_CUDA();
  const Shape shape{3, 6, 4, 5};
  const Tensor x = rand(shape, kCL), dy = rand(shape, kCL), gamma = rand({6});
  const Tensor mean = rand({6}), var = random_tensor({6}, DType::f32, gen(), kRowMajor, 0.5, 1.5);
  expect_cuda_matches_ref(
      [&](Device d) {
        Tensor dx = empty(shape, kCL, d), none_g, none_b;
        const Tensor xd = on(x, d), dyd = on(dy, d);
        batch_norm_backward(xd, dyd, xd, on(gamma, d), on(mean, d), on(var, d), 1e-5, dx, none_g, none_b);
        return Outputs{dx};
      },
      {"dx"}, kReduce, "batch norm backward, dgamma/dbeta undefined");
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
    {{2, 17, 6, 6}, {3, 1, 1}, kCL},    // stride 1: overlapping windows, every input read by up to 9 outputs
};

std::string str(const PoolCase& c, const char* op) {
  return std::string(op) + " " + shape_str(c.shape) + " k" + std::to_string(c.p.kernel) + " s" +
         std::to_string(c.p.stride) + " p" + std::to_string(c.p.padding) + " " + layout_name(c.layout);
}

Shape pool_out(const PoolCase& c) {
  return {c.shape[0], c.shape[1], conv_out_size(c.shape[2], c.p.kernel, c.p.stride, c.p.padding),
          conv_out_size(c.shape[3], c.p.kernel, c.p.stride, c.p.padding)};
}

TEST(CudaVsRef, MaxPoolForwardAndWorkspaceRoutedBackward) {
  SKIP_WITHOUT_CUDA();
  for (const PoolCase& c : kPoolCases) {
    // Distinct values: no ties, so both backends pick the same argmax.
    const Tensor x = distinct_random_tensor(c.shape, DType::f32, gen(), c.layout, 0.01);
    const Tensor dy = rand(pool_out(c), c.layout);
    expect_cuda_matches_ref(
        [&](Device d) {
          Tensor y = empty(pool_out(c), c.layout, d), dx = empty(c.shape, c.layout, d), workspace;
          const Tensor xd = on(x, d), dyd = on(dy, d);
          max_pool2d_forward(xd, xd, c.p, y, workspace);
          max_pool2d_backward(dyd, dyd, workspace, c.p, dx);
          // The same argmax convention as the reference (ih * W + iw): the workspaces agree too.
          return Outputs{y, dx, workspace};
        },
        {"y", "dx", "workspace (argmax)"}, kExact, str(c, "max pool"));
  }
}

TEST(CudaVsRef, MaxPoolWorkspaceLivesOnTheDevice) {
  SKIP_WITHOUT_CUDA();
  const Pool2dParams p{3, 2, 1};
  const Tensor x = rand({2, 8, 9, 9}, kCL).to(Device::cuda());
  Tensor y = empty({2, 8, 5, 5}, kCL, Device::cuda()), workspace;
  max_pool2d_forward(x, x, p, y, workspace);
  EXPECT_EQ(workspace.dtype(), DType::i64);
  EXPECT_TRUE(workspace.device().is_cuda());
  EXPECT_EQ(workspace.shape(), (Shape{2, 8, 5, 5}));
  Tensor dx = empty(x.shape(), kCL, Device::cuda());
  const Tensor host_workspace = Tensor::zeros({2, 8, 5, 5}, DType::i64);  // e.g. the reference backend's
  expect_error_containing([&] { max_pool2d_backward(y, y, host_workspace, p, dx); },
                          {"max_pool2d_backward", "workspace"});
}

TEST(CudaVsRef, AvgPoolForwardBackwardCountsPadding) {
  SKIP_WITHOUT_CUDA();
  for (const PoolCase& c : kPoolCases) {
    const Tensor x = rand(c.shape, c.layout), dy = rand(pool_out(c), c.layout);
    expect_cuda_matches_ref(
        [&](Device d) {
          Tensor y = empty(pool_out(c), c.layout, d), dx = empty(c.shape, c.layout, d);
          const Tensor xd = on(x, d), dyd = on(dy, d);
          avg_pool2d_forward(xd, xd, c.p, y);
          avg_pool2d_backward(dyd, dyd, c.p, dx);
          return Outputs{y, dx};
        },
        {"y", "dx"}, kExact, str(c, "avg pool"));
  }
}

TEST(CudaVsRef, GlobalAvgPool) {
  SKIP_WITHOUT_CUDA();
  for (auto [shape, layout] : {std::pair{Shape{3, 20, 5, 7}, kCL}, {Shape{1, 7, 4, 4}, kRowMajor}}) {
    const Tensor x = rand(shape, layout), dy = rand({shape[0], shape[1]});
    expect_cuda_matches_ref(
        [&](Device d) {
          Tensor y = empty({shape[0], shape[1]}, kRowMajor, d), dx = empty(shape, layout, d);
          const Tensor xd = on(x, d), dyd = on(dy, d);
          global_avg_pool_forward(xd, xd, y);
          global_avg_pool_backward(dyd, dyd, dx);
          return Outputs{y, dx};
        },
        {"y", "dx"}, kExact, "global avg pool " + shape_str(shape) + " " + layout_name(layout));
  }
}

// ---------------------------------------------------------------- linear

DeviceOp linear_op(int64_t n, int64_t k, int64_t m, bool bias, DType dtype) {
  const Tensor x = rand({n, k}, kRowMajor, dtype), w = rand({m, k}, kRowMajor, dtype);
  const Tensor b = bias ? rand({m}, kRowMajor, dtype) : undefined(), dy = rand({n, m}, kRowMajor, dtype);
  return [=](Device d) {
    const Tensor xd = on(x, d), wd = on(w, d), dyd = on(dy, d);
    Tensor y = empty({n, m}, kRowMajor, d, dtype), dx = empty({n, k}, kRowMajor, d, dtype);
    Tensor dw = empty({m, k}, kRowMajor, d, dtype), db = bias ? empty({m}, kRowMajor, d, dtype) : undefined();
    linear_forward(xd, xd, wd, on(b, d), y);
    linear_backward_data(dyd, dyd, wd, dx);
    linear_backward_weights(xd, xd, dyd, dw, db);
    return bias ? Outputs{y, dx, dw, db} : Outputs{y, dx, dw};
  };
}

TEST(CudaVsRef, Linear) {
  SKIP_WITHOUT_CUDA();
  for (auto [n, k, m, bias] : {std::tuple{5, 37, 10, true}, {1, 64, 3, false}, {33, 17, 100, true}}) {
    expect_cuda_matches_ref(linear_op(n, k, m, bias, DType::f32), conv_names(bias), kReduce,
                            "linear " + std::to_string(n) + "x" + std::to_string(k) + " -> " + std::to_string(m));
  }
}

// ---------------------------------------------------------------- relu, elementwise, concat

TEST(CudaVsRef, Relu) {
  SKIP_WITHOUT_CUDA();
  for (auto [shape, layout] : {std::pair{Shape{2, 19, 5, 3}, kCL}, {Shape{1, 4, 3, 3}, kRowMajor}, {Shape{7, 13}, kRowMajor}}) {
    const Tensor x = rand(shape, layout), dy = rand(shape, layout);
    expect_cuda_matches_ref(
        [&](Device d) {
          Tensor y = empty(shape, layout, d), dx = empty(shape, layout, d);
          const Tensor xd = on(x, d), dyd = on(dy, d);
          relu_forward(xd, xd, y);
          relu_backward(dyd, dyd, y, dx);
          return Outputs{y, dx};
        },
        {"y", "dx"}, kExact, "relu " + shape_str(shape) + " " + layout_name(layout));
  }
}

TEST(CudaVsRef, AddAxpyScaleAcrossLayouts) {
  SKIP_WITHOUT_CUDA();
  const Shape shape{2, 6, 5, 3};
  const Tensor a = rand(shape, kCL), b = rand(shape, kRowMajor), acc0 = rand(shape, kCL);
  for (MemoryFormat out : {kCL, kRowMajor}) {
    expect_cuda_matches_ref(
        [&](Device d) {
          const Tensor ad = on(a, d), bd = on(b, d);
          Tensor y = empty(shape, out, d), s = empty(shape, out, d), acc = acc0.contiguous(out).to(d).clone();
          add_forward(ad, ad, bd, y);
          scale(ad, -0.75, bd, s);
          axpy(ad, 0.5, ad, acc);
          return Outputs{y, s, acc};
        },
        {"a + b", "scale", "axpy"}, kExact, std::string("elementwise into ") + layout_name(out));
  }
}

TEST(CudaVsRef, ConcatChannels) {
  SKIP_WITHOUT_CUDA();
  // Mixed layouts of 4-D inputs, and the 2-D case.
  const std::vector<Tensor> xs4 = {rand({2, 3, 5, 4}, kCL), rand({2, 16, 5, 4}, kRowMajor), rand({2, 1, 5, 4}, kCL)};
  const std::vector<Tensor> xs2 = {rand({3, 4}), rand({3, 9})};
  auto on_all = [](const std::vector<Tensor>& xs, Device d) {
    std::vector<Tensor> out;
    for (const Tensor& x : xs) out.push_back(on(x, d));
    return out;
  };
  for (MemoryFormat out : {kCL, kRowMajor}) {
    expect_cuda_matches_ref(
        [&](Device d) {
          Tensor y = empty({2, 20, 5, 4}, out, d);
          const std::vector<Tensor> xs = on_all(xs4, d);
          concat_channels_forward(xs[0], xs, y);
          return Outputs{y};
        },
        {"y"}, kExact, std::string("concat 4-D into ") + layout_name(out));
  }
  expect_cuda_matches_ref(
      [&](Device d) {
        Tensor y = empty({3, 13}, kRowMajor, d);
        const std::vector<Tensor> xs = on_all(xs2, d);
        concat_channels_forward(xs[0], xs, y);
        return Outputs{y};
      },
      {"y"}, kExact, "concat 2-D");
}

// ---------------------------------------------------------------- loss and optimizer

TEST(CudaVsRef, CrossEntropy) {
  SKIP_WITHOUT_CUDA();
  for (auto [n, c] : {std::pair{7, 10}, {1, 3}, {64, 100}, {5, 1000}}) {
    Tensor logits = rand({n, c});
    scale(logits, 8.0, logits, logits);  // large logits: the max subtraction matters
    const Tensor labels = random_labels(n, c, gen());
    const std::string context = "cross entropy " + std::to_string(n) + "x" + std::to_string(c);
    // Labels on the device (as the trainer passes them) and on the host: both are accepted.
    for (bool labels_on_device : {true, false}) {
      expect_cuda_matches_ref(
          [&](Device d) {
            Tensor loss = empty({1}, kRowMajor, d), probs = empty({n, c}, kRowMajor, d);
            const Tensor ld = on(logits, d), lab = labels_on_device ? on(labels, d) : labels;
            cross_entropy_forward(ld, ld, lab, loss, probs);
            return Outputs{loss, probs};
          },
          {"loss", "probs"}, kExact, context + (labels_on_device ? ", labels on device" : ", labels on host"));
    }
    const Tensor probs = rand({n, c}, kRowMajor);
    expect_cuda_matches_ref(
        [&](Device d) {
          Tensor dlogits = empty({n, c}, kRowMajor, d);
          const Tensor pd = on(probs, d);
          cross_entropy_backward(pd, pd, on(labels, d), 0.7, dlogits);
          return Outputs{dlogits};
        },
        {"dlogits"}, kExact, context);
  }
}

TEST(CudaVsRef, CrossEntropyRejectsOutOfRangeLabels) {
  SKIP_WITHOUT_CUDA();
  const Tensor logits = rand({3, 10}).to(Device::cuda());
  Tensor loss = empty({1}, kRowMajor, Device::cuda()), probs = empty({3, 10}, kRowMajor, Device::cuda());
  const Tensor bad = Tensor::from_vector(std::vector<int64_t>{1, 10, 2}, {3});
  for (const Tensor& labels : {bad, bad.to(Device::cuda())})
    expect_error_containing([&] { cross_entropy_forward(logits, logits, labels, loss, probs); },
                            {"cross_entropy_forward", "label 10", "[0, 10)"});
}

TEST(CudaVsRef, SgdMomentumNesterovWeightDecay) {
  SKIP_WITHOUT_CUDA();
  const std::vector<Tensor> params0 = {rand({8, 3, 3, 3}), rand({8}), rand({10, 8})};
  const std::vector<Tensor> grads0 = {rand({8, 3, 3, 3}), rand({8}), rand({10, 8})};
  for (bool nesterov : {false, true}) {
    for (double momentum : {0.0, 0.9}) {
      if (nesterov && momentum == 0.0) continue;
      expect_cuda_matches_ref(
          [&](Device d) {
            std::vector<Tensor> params, grads, buffers;
            for (size_t i = 0; i < params0.size(); ++i) {
              params.push_back(params0[i].to(d).clone());
              grads.push_back(on(grads0[i], d));
              buffers.push_back(Tensor::zeros(params0[i].shape(), DType::f32, d));
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

// ---------------------------------------------------------------- float64 on the device

TEST(CudaVsRef, Float64ConvolutionAndLinear) {
  SKIP_WITHOUT_CUDA();
  // float64 CUDA tensors also dispatch to the cuda backend (cuDNN and cuBLAS in double).
  for (const ConvCase& c : {ConvCase{2, 3, 9, 7, 5, 3, 1, 1, true, kCL}, ConvCase{2, 5, 9, 7, 4, 1, 2, 0, false, kRowMajor}})
    expect_cuda_matches_ref(conv_op(c, DType::f64), conv_names(c.bias), kDouble, "float64 " + str(c));
  expect_cuda_matches_ref(linear_op(5, 37, 10, true, DType::f64), conv_names(true), kDouble, "float64 linear");
}

// ---------------------------------------------------------------- backend plumbing

TEST(CudaBackend, CopiesBetweenHostAndDeviceAreExact) {
  SKIP_WITHOUT_CUDA();
  for (MemoryFormat f : {kCL, kRowMajor}) {
    const Tensor x = rand({2, 5, 3, 4}, f);
    const Tensor gpu = x.to(Device::cuda());
    EXPECT_TRUE(gpu.device().is_cuda());
    EXPECT_EQ(gpu.is_channels_last(), f == kCL);
    const Tensor twice = gpu.clone();  // device to device
    EXPECT_EQ(twice.to(Device::cpu()).to_double_vector(), x.to_double_vector()) << layout_name(f);
  }
  // Layout change across the bus, and fill/zero on the device.
  const Tensor x = rand({2, 5, 3, 4}, kRowMajor);
  Tensor cl = Tensor::empty(x.shape(), DType::f32, Device::cuda(), kCL);
  cl.copy_(x);
  EXPECT_EQ(cl.to_double_vector(), x.to_double_vector());
  cl.fill_(2.5);
  EXPECT_EQ(cl.to_double_vector(), std::vector<double>(static_cast<size_t>(x.numel()), 2.5));
  cl.zero_();
  EXPECT_EQ(cl.to_double_vector(), std::vector<double>(static_cast<size_t>(x.numel()), 0.0));
}

TEST(CudaBackend, ErrorsNameTheOpAndTheShapes) {
  SKIP_WITHOUT_CUDA();
  const Device gpu = Device::cuda();
  const Tensor x = rand({2, 3, 8, 8}, kCL).to(gpu), w = rand({4, 5, 3, 3}).to(gpu);
  Tensor y = empty({2, 4, 8, 8}, kCL, gpu);
  expect_error_containing([&] { conv2d_forward(x, x, w, undefined(), Conv2dParams{1, 1}, y); },
                          {"conv2d_forward", "[2, 3, 8, 8]", "[4, 5, 3, 3]"});
  Tensor a = rand({3, 4}).to(gpu), b = rand({4, 3}).to(gpu), out = empty({3, 4}, kRowMajor, gpu);
  expect_error_containing([&] { add_forward(a, a, b, out); }, {"add_forward", "[3, 4]", "[4, 3]"});
  // A host tensor among device ones is refused, naming it.
  const Tensor host_b = rand({3, 4});
  expect_error_containing([&] { add_forward(a, a, host_b, out); }, {"add_forward", "b", "cpu"});
}

// One small training step through every kernel slot on the device, with a residual add and a concat
// whose backward reads channel slices (strided views); returns the loss.
struct TinyNet {
  Device d = Device::cuda();
  Tensor x = rand({4, 3, 8, 8}, kCL).to(d), w1 = rand({8, 3, 3, 3}).to(d), w2 = rand({16, 16, 3, 3}).to(d);
  Tensor fc = rand({5, 16}).to(d), gamma = rand({8}).to(d), beta = rand({8}).to(d);
  Tensor rm = Tensor::zeros({8}, DType::f32, d), rv = Tensor::full({8}, 1.0, DType::f32, d);
  Tensor labels = random_labels(4, 5, gen()).to(d);

  Tensor act(const Shape& s) const { return Tensor::empty_activation(s, DType::f32, d); }
  Tensor plain(const Shape& s) const { return Tensor::empty(s, DType::f32, d); }

  double step() {
    const Conv2dParams p1{1, 1}, p2{2, 1};
    const Pool2dParams pool{2, 2, 0};
    Tensor a1 = act({4, 8, 8, 8}), b1 = act({4, 8, 8, 8}), r1 = act({4, 8, 8, 8}), s1 = act({4, 8, 8, 8});
    Tensor m1 = act({4, 8, 4, 4}), cat = act({4, 16, 4, 4}), a2 = act({4, 16, 2, 2}), g = plain({4, 16});
    Tensor logits = plain({4, 5}), loss = plain({1}), probs = plain({4, 5}), mean = plain({8}), var = plain({8}), ws;
    conv2d_forward(x, x, w1, Tensor(), p1, a1);
    batch_norm_forward_train(a1, a1, gamma, beta, rm, rv, 0.1, 1e-5, b1, mean, var);
    relu_forward(b1, b1, r1);
    add_forward(r1, r1, b1, s1);  // a residual connection
    max_pool2d_forward(s1, s1, pool, m1, ws);
    concat_channels_forward(m1, std::vector<Tensor>{m1, m1}, cat);
    conv2d_forward(cat, cat, w2, Tensor(), p2, a2);
    global_avg_pool_forward(a2, a2, g);
    linear_forward(g, g, fc, Tensor(), logits);
    cross_entropy_forward(logits, logits, labels, loss, probs);

    Tensor dlogits = plain({4, 5}), dg = plain({4, 16}), dfc = plain({5, 16}), da2 = act(a2.shape());
    Tensor dcat = act(cat.shape()), dw2 = plain(w2.shape()), dm1 = act(m1.shape()), ds1 = act(s1.shape());
    Tensor db1 = act(b1.shape()), da1 = act(a1.shape()), dw1 = plain(w1.shape()), dgamma = plain({8});
    Tensor dbeta = plain({8}), none;
    cross_entropy_backward(probs, probs, labels, 1.0, dlogits);
    linear_backward_data(dlogits, dlogits, fc, dg);
    linear_backward_weights(g, g, dlogits, dfc, none);
    global_avg_pool_backward(dg, dg, da2);
    conv2d_backward_data(da2, da2, w2, p2, dcat);
    conv2d_backward_weights(cat, cat, da2, p2, dw2, none);
    // m1 fed both halves of the concat: its gradient is the sum of the two channel slices.
    const Tensor first_half = dcat.narrow(1, 0, 8), second_half = dcat.narrow(1, 8, 8);
    scale(first_half, 1.0, first_half, dm1);
    axpy(second_half, 1.0, second_half, dm1);
    max_pool2d_backward(dm1, dm1, ws, pool, ds1);
    relu_backward(ds1, ds1, r1, db1);
    axpy(ds1, 1.0, ds1, db1);  // the residual's direct path
    batch_norm_backward(db1, db1, a1, gamma, mean, var, 1e-5, da1, dgamma, dbeta);
    conv2d_backward_weights(x, x, da1, p1, dw1, none);  // the first conv needs no input gradient

    std::vector<Tensor> params = {w1, w2, fc, gamma, beta}, grads = {dw1, dw2, dfc, dgamma, dbeta}, buffers;
    for (const Tensor& t : params) buffers.push_back(Tensor::zeros(t.shape(), DType::f32, d));
    sgd_update(w1, params, grads, buffers, SgdParams{0.01, 0.9, 5e-4, false, false});
    return loss.item();
  }
};

TEST(CudaBackend, SteadyStateMakesNoCudaMalloc) {
  SKIP_WITHOUT_CUDA();
  TinyNet net;
  net.step();
  net.step();  // the allocator's cache now holds every size a step needs
  const size_t mallocs = cuda_memory_stats().malloc_calls;
  const double loss = net.step();
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_EQ(cuda_memory_stats().malloc_calls, mallocs) << "a steady-state step called cudaMalloc";
  EXPECT_GT(cuda_memory_stats().cached_bytes + cuda_memory_stats().live_bytes, 0u);
}

TEST(CudaBackend, DeterministicByDefault) {
  SKIP_WITHOUT_CUDA();
  // Two identical backward passes give bitwise identical gradients: deterministic cuDNN algorithms and
  // fixed-order reductions (batch norm, bias gradients).
  const Device gpu = Device::cuda();
  const Tensor x = rand({8, 32, 16, 16}, kCL).to(gpu), dy = rand({8, 32, 16, 16}, kCL).to(gpu);
  const Tensor gamma = rand({32}).to(gpu), mean = rand({32}).to(gpu);
  const Tensor var = random_tensor({32}, DType::f32, gen(), kRowMajor, 0.5, 1.5).to(gpu);
  auto gradients = [&] {
    Tensor dw = empty({32, 32, 3, 3}, kRowMajor, gpu), db = empty({32}, kRowMajor, gpu);
    conv2d_backward_weights(x, x, dy, Conv2dParams{1, 1}, dw, db);
    Tensor dx = empty(x.shape(), kCL, gpu), dgamma = empty({32}, kRowMajor, gpu), dbeta = empty({32}, kRowMajor, gpu);
    batch_norm_backward(x, dy, x, gamma, mean, var, 1e-5, dx, dgamma, dbeta);
    std::vector<double> all;
    for (const Tensor& t : {dw, db, dx, dgamma, dbeta}) {
      const std::vector<double> v = t.to_double_vector();
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  EXPECT_EQ(gradients(), gradients());
}

TEST(CudaBackend, DeviceQueryDescribesTheGpu) {
  SKIP_WITHOUT_CUDA();
  EXPECT_GE(cuda_device_count(), 1);
  EXPECT_FALSE(cuda_device_description(0).empty());
  cuda_synchronize();
}

TEST(CudaBackend, NoDeviceMeansNoCudaAnswers) {
  // Runs everywhere: the query never throws, and agrees with itself.
  EXPECT_EQ(cuda_device_available(), cuda_device_count() > 0);
  if (!cuda_device_available()) {
    EXPECT_EQ(cuda_device_description(0), "");
  }
}

}  // namespace
