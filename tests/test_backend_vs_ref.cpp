// Every backend against the reference backend, kernel slot by kernel slot: every output of every forward
// and backward pass, on random float32 inputs with odd sizes, stride 2, padding 0/1, batch 1, and both
// channels-last and row-major tensors. One suite, BackendVsRef, instantiated once per backend:
//  - Cpu/BackendVsRef.*/cpu: the oneDNN + OpenMP backend (backends/cpu), on CPU tensors;
//  - Cuda/BackendVsRef.*/cuda: the CUDA backend (backends/cuda), on copies of the same inputs on the GPU.
//    Every test skips (GTEST_SKIP) when no CUDA device answers: CPU-only builds, machines without a GPU.
// The reference result is the same slot called on CPU copies under ReferenceModeGuard (plain loops
// accumulating in double): tests/testing/backend_compare.h. What only one backend has (oneDNN's caches and
// routes, the CUDA allocator, ...) is tested in test_cpu_backend.cpp and test_cuda_backend.cpp; float64 on the
// GPU against the float64 reference (1e-10) is CudaVsRef.Float64ConvolutionAndLinear at the end of this file.
//
// Tolerances are relative to the largest magnitude of the compared tensors (testing::max_rel_error).
// cpu:
//  - 1e-6 where both backends do the same float32 arithmetic (copies, elementwise, SGD, pooling, ReLU);
//  - 1e-5 for reductions that the cpu backend sums in float32 in another order (conv, linear, batch norm,
//    global pooling, softmax): float32 rounding of a few hundred terms stays well below that.
//    The largest errors seen on an AVX-512 machine were 5e-7 (conv y) and 1.3e-7 among the 1e-6 ops, so both
//    tolerances leave a 10x margin for other instruction sets, where oneDNN picks other kernels.
//  - 3e-5 for Winograd convolutions (backends/cpu/conv2d_winograd.h), which also round in their tile
//    transforms: 1.1e-6 seen at 32 channels, 3.7e-6 at 256 (the direct kernels: 5e-7).
// cuda: TF32 is off in the backend (cuDNN FMA math, cuBLAS default math), so float32 products are exact:
//  - 1e-6 where both backends round the same double-precision result once (elementwise ops, copies,
//    pooling, global pooling, SGD, concat, the softmax / cross-entropy, which the GPU also computes in double);
//  - 1e-5 for float32 sums in another order than the reference (cuBLAS GEMMs over <= 100 terms) and for
//    batch norm (double statistics, float32 per-element normalisation);
//  - 1e-4 for cuDNN convolutions: cuDNN may pick Winograd or FFT algorithms (deterministic, FMA math),
//    whose transforms round more than a direct sum of a few hundred products.
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cpu/conv2d_winograd.h"
#include "backends/device_query.h"
#include "backends/kernels.h"
#include "core/storage.h"
#include "tests/testing/backend_compare.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

constexpr double kExact = 1e-6;
constexpr double kReduce = 1e-5;
constexpr double kWinograd = 3e-5;  // cpu: Winograd convolutions
constexpr double kCudnnConv = 1e-4;  // cuda: any cuDNN convolution algorithm

constexpr MemoryFormat kCL = MemoryFormat::channels_last;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;

// A backend under test: the device whose tensors dispatch to it, and the tolerances where backends differ.
struct Backend {
  std::string name;  // the test name's suffix
  Device device;
  uint64_t seed;     // of the random inputs (the seed each backend's own file used)
  // Convolutions: forward, backward-data and backward-weights of one case.
  double (*conv_tolerance)(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p);
  double global_avg_pool;
  double cross_entropy_forward;
  // The max-pool workspace is the reference's int64 argmax (ih * W + iw), so it is compared too; the cpu
  // backend's is oneDNN's opaque record instead (CpuBackend.MaxPoolWorkspaceIsTheForwardsOpaqueRecord).
  bool argmax_workspace;
  // Labels may live on the host or on the device (on the cpu backend both are the same).
  std::vector<bool> labels_on_device;
};

const Backend kCpu{"cpu",
                   Device::cpu(),
                   20240611,
                   [](const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
                     return cpu::conv_as_winograd(x, w, y, p) ? kWinograd : kReduce;
                   },
                   kReduce,
                   kReduce,
                   false,
                   {false}};
const Backend kCuda{"cuda",
                    Device::cuda(),
                    20240917,
                    [](const Shape&, const Shape&, const Shape&, const Conv2dParams&) { return kCudnnConv; },
                    kExact,
                    kExact,
                    true,
                    {true, false}};

void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

class BackendVsRef : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    if (backend().device.is_cuda() && !cuda_device_available())
      GTEST_SKIP() << "no CUDA device: this build has no CUDA backend or the machine no driver/GPU; the cuda "
                      "backend's comparisons with the reference skipped";
  }

  const Backend& backend() const { return GetParam(); }
  Device device() const { return GetParam().device; }

  Tensor rand(const Shape& shape, MemoryFormat format = kRowMajor) {
    return random_tensor(shape, DType::f32, gen_, format);
  }
  void expect_matches_ref(const DeviceOp& op, const std::vector<std::string>& names, double tol,
                          const std::string& context) {
    expect_backend_matches_ref(device(), op, tol, backend().name + " " + context, names);
  }

  Generator gen_{GetParam().seed};
};

Tensor empty(const Shape& shape, MemoryFormat format, Device device) {
  return Tensor::empty(shape, DType::f32, device, format);
}
Tensor undefined() { return Tensor(); }
const char* layout_name(MemoryFormat f) { return f == kCL ? "channels_last" : "row_major"; }

std::vector<std::string> weighted_op_names(bool bias) {
  return bias ? std::vector<std::string>{"y", "dx", "dw", "db"} : std::vector<std::string>{"y", "dx", "dw"};
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

const std::vector<ConvCase> kConvCases = {
    {2, 3, 9, 7, 5, 3, 1, 1, true, kCL},        // odd sizes, 3 input channels (the stem)
    {1, 4, 8, 8, 6, 3, 2, 1, false, kCL},       // batch 1, stride 2
    {2, 5, 9, 7, 4, 1, 2, 0, true, kRowMajor},  // 1x1 stride-2 shortcut, row-major tensors
    {2, 16, 7, 7, 32, 3, 2, 0, false, kCL},     // stride 2, no padding (cpu: the blocked-channel JIT path)
    {3, 32, 6, 5, 16, 3, 1, 1, false, kRowMajor},
    {4, 64, 8, 8, 64, 3, 1, 1, false, kCL},     // a ResNet block's shape: Winograd territory
    // cpu: stride 1 on at least 64 pixels: backward-data runs as a forward convolution with flipped weights.
    {2, 8, 9, 11, 12, 3, 1, 1, true, kCL},
    {2, 4, 10, 9, 6, 3, 1, 0, false, kCL},      // padding 0 becomes padding 2 on the forward route
    {1, 16, 8, 9, 8, 1, 1, 0, false, kRowMajor},
    // cpu: at most 24 channels on both sides, oneDNN's direct JIT kernel; above, its brgemm one (conv2d.cpp).
    {2, 24, 9, 8, 24, 3, 1, 1, false, kCL},
    {2, 32, 8, 9, 40, 3, 1, 1, true, kCL},
    // cpu: 3x3 stride-1 padding-1 with channels in multiples of 16 (>= 32 on one side): Winograd on nChw16c
    // (backends/cpu/conv2d_winograd.h); 16 channels share the channels-last bytes, others are reordered.
    {2, 32, 16, 16, 32, 3, 1, 1, false, kCL},
    {3, 16, 9, 7, 32, 3, 1, 1, true, kCL},      // odd sizes (partial 4x4 tiles), 16-channel input used in place
    {2, 64, 5, 7, 48, 3, 1, 1, true, kRowMajor},
    {1, 256, 8, 8, 256, 3, 1, 1, false, kCL},   // the longest sums of a ResNet18 at width 1
    // cpu: outputs of at most 4 pixels go through im2col + sgemm (backends/cpu/conv2d_gemm.h).
    {3, 5, 2, 2, 7, 3, 1, 1, true, kCL},        // VGG's last stage: 2x2, padding 1 (5 of 9 taps in the padding)
    {2, 6, 3, 3, 4, 3, 2, 1, false, kRowMajor},  // stride 2 onto 2x2
    {2, 3, 3, 3, 5, 2, 1, 0, true, kCL},        // 2x2 kernel, no padding, 2x2 output
    {4, 9, 1, 1, 3, 3, 1, 1, false, kCL},       // 1x1 maps: only the centre tap is inside
    {2, 4, 5, 5, 6, 3, 2, 0, false, kCL},       // 2x2 output from 5x5 by stride 2
};

// Forward, backward-data and backward-weights of one case on device d, on inputs drawn now.
DeviceOp conv_op(const ConvCase& c, DType dtype, Generator& gen) {
  const Conv2dParams p{c.stride, c.pad};
  const Shape y_shape{c.n, c.co, conv_out_size(c.h, c.k, c.stride, c.pad), conv_out_size(c.w, c.k, c.stride, c.pad)};
  const Tensor x = random_tensor({c.n, c.ci, c.h, c.w}, dtype, gen, c.layout);
  const Tensor w = random_tensor({c.co, c.ci, c.k, c.k}, dtype, gen);
  const Tensor b = c.bias ? random_tensor({c.co}, dtype, gen) : undefined();
  const Tensor dy = random_tensor(y_shape, dtype, gen, c.layout);
  return [=](Device d) {
    const Tensor xd = to_device(x, d), wd = to_device(w, d), bd = to_device(b, d), dyd = to_device(dy, d);
    Tensor y = Tensor::empty(y_shape, dtype, d, c.layout), dx = Tensor::empty(x.shape(), dtype, d, c.layout);
    Tensor dw = Tensor::empty(w.shape(), dtype, d);
    Tensor db = c.bias ? Tensor::empty({c.co}, dtype, d) : undefined();
    conv2d_forward(xd, wd, bd, p, y);
    conv2d_backward_data(dyd, wd, p, dx);
    conv2d_backward_weights(xd, dyd, p, dw, db);
    // Both backward passes in one call (what autograd runs), into outputs of their own.
    Tensor dx2 = Tensor::empty(x.shape(), dtype, d, c.layout), dw2 = Tensor::empty(w.shape(), dtype, d);
    Tensor db2 = c.bias ? Tensor::empty({c.co}, dtype, d) : undefined();
    conv2d_backward(xd, dyd, wd, p, dx2, dw2, db2);
    return c.bias ? Outputs{y, dx, dw, db, dx2, dw2, db2} : Outputs{y, dx, dw, dx2, dw2};
  };
}

std::vector<std::string> conv_op_names(bool bias) {
  std::vector<std::string> names = weighted_op_names(bias);
  for (const char* both : {"dx (conv2d_backward)", "dw (conv2d_backward)"}) names.push_back(both);
  if (bias) names.push_back("db (conv2d_backward)");
  return names;
}

TEST_P(BackendVsRef, Conv2dForwardBackwardDataBackwardWeights) {
  for (const ConvCase& c : kConvCases) {
    const Conv2dParams p{c.stride, c.pad};
    const Shape y_shape{c.n, c.co, conv_out_size(c.h, c.k, c.stride, c.pad), conv_out_size(c.w, c.k, c.stride, c.pad)};
    const double tol = backend().conv_tolerance({c.n, c.ci, c.h, c.w}, {c.co, c.ci, c.k, c.k}, y_shape, p);
    expect_matches_ref(conv_op(c, DType::f32, gen_), conv_op_names(c.bias), tol, str(c));
  }
}

// conv2d_relu_forward on every case above (the cpu backend's three routes: direct, Winograd, GEMM), its
// random signs leave about half of the outputs to rectify.
TEST_P(BackendVsRef, Conv2dReluForward) {
  for (const ConvCase& c : kConvCases) {
    const Conv2dParams p{c.stride, c.pad};
    const Shape y_shape{c.n, c.co, conv_out_size(c.h, c.k, c.stride, c.pad), conv_out_size(c.w, c.k, c.stride, c.pad)};
    const Tensor x = rand({c.n, c.ci, c.h, c.w}, c.layout), w = rand({c.co, c.ci, c.k, c.k});
    const Tensor b = c.bias ? rand({c.co}, kRowMajor) : undefined();
    expect_matches_ref(
        [&](Device d) {
          Tensor y = empty(y_shape, c.layout, d);
          conv2d_relu_forward(to_device(x, d), to_device(w, d), to_device(b, d), p, y);
          return Outputs{y};
        },
        {"relu(conv)"}, backend().conv_tolerance({c.n, c.ci, c.h, c.w}, {c.co, c.ci, c.k, c.k}, y_shape, p), str(c));
  }
}

TEST_P(BackendVsRef, Conv2dMixedInputAndOutputLayouts) {
  // A row-major input into a channels-last output and the reverse: the backend stages one side.
  const Conv2dParams p{1, 1};
  for (auto layouts : {std::pair{kRowMajor, kCL}, {kCL, kRowMajor}}) {
    const MemoryFormat in = layouts.first, out = layouts.second;  // plain variables: lambdas capture them (clang 14)
    const Tensor x = rand({2, 8, 5, 6}, in), w = rand({4, 8, 3, 3});
    expect_matches_ref(
        [&](Device d) {
          Tensor y = empty({2, 4, 5, 6}, out, d);
          const Tensor xd = to_device(x, d), wd = to_device(w, d);
          conv2d_forward(xd, wd, undefined(), p, y);
          return Outputs{y};
        },
        {"y"}, backend().conv_tolerance(x.shape(), w.shape(), {2, 4, 5, 6}, p),
        std::string("conv input ") + layout_name(in) + ", output " + layout_name(out));
  }
}

// ---------------------------------------------------------------- batch norm

TEST_P(BackendVsRef, BatchNormTrainEvalBackward) {
  const double momentum = 0.1, eps = 1e-5;
  struct Case {
    Shape shape;
    MemoryFormat layout;
  };
  // The last three are large enough for the cpu loops to run in parallel (VGG's BatchNorm1d head is [N,C]).
  for (const Case& c : {Case{{4, 16, 5, 3}, kCL}, Case{{1, 3, 7, 5}, kCL}, Case{{3, 5, 4, 4}, kRowMajor},
                        Case{{6, 10}, kRowMajor}, Case{{16, 40, 9, 9}, kCL}, Case{{8, 24, 33, 31}, kCL},
                        Case{{130, 300}, kRowMajor}}) {
    const int64_t C = c.shape[1];
    const std::string context = "batch norm " + shape_str(c.shape) + " " + layout_name(c.layout);
    // Shifted, scaled inputs: the variance computation must not lose digits to cancellation.
    Tensor x = rand(c.shape, c.layout);
    scale(3.0, x, x);
    axpy(2.0, Tensor::full(c.shape, 1.0), x);
    const Tensor gamma = rand({C}), beta = rand({C}), dy = rand(c.shape, c.layout);
    const Tensor running_mean0 = rand({C}), running_var0 = random_tensor({C}, DType::f32, gen_, kRowMajor, 0.5, 1.5);
    expect_matches_ref(
        [&](Device d) {
          const Tensor xd = to_device(x, d), gd = to_device(gamma, d), bd = to_device(beta, d), dyd = to_device(dy, d);
          Tensor rm = to_device(running_mean0, d).clone(), rv = to_device(running_var0, d).clone();
          Tensor y = empty(c.shape, c.layout, d), mean = empty({C}, kRowMajor, d), var = empty({C}, kRowMajor, d);
          batch_norm_forward_train(xd, gd, bd, rm, rv, momentum, eps, y, mean, var);
          Tensor dx = empty(c.shape, c.layout, d), dgamma = empty({C}, kRowMajor, d), dbeta = empty({C}, kRowMajor, d);
          batch_norm_backward(dyd, xd, gd, mean, var, eps, dx, dgamma, dbeta);
          Tensor y_eval = empty(c.shape, c.layout, d);
          batch_norm_forward_eval(xd, gd, bd, rm, rv, eps, y_eval);
          return Outputs{y, mean, var, rm, rv, dx, dgamma, dbeta, y_eval};
        },
        {"y", "save_mean", "save_var (biased)", "running_mean", "running_var (unbiased, momentum 0.1)", "dx", "dgamma",
         "dbeta", "y (eval)"},
        kReduce, context);
  }
}

TEST_P(BackendVsRef, BatchNormBackwardWithoutAffineGradients) {
  const Shape shape{3, 6, 4, 5};
  const Tensor x = rand(shape, kCL), dy = rand(shape, kCL), gamma = rand({6});
  const Tensor mean = rand({6}), var = random_tensor({6}, DType::f32, gen_, kRowMajor, 0.5, 1.5);
  expect_matches_ref(
      [&](Device d) {
        Tensor dx = empty(shape, kCL, d), none_g, none_b;
        const Tensor xd = to_device(x, d), dyd = to_device(dy, d), gd = to_device(gamma, d);
        const Tensor md = to_device(mean, d), vd = to_device(var, d);
        batch_norm_backward(dyd, xd, gd, md, vd, 1e-5, dx, none_g, none_b);
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
    // Stride 1: overlapping windows, every input read by up to 9 outputs; channels not a multiple of the
    // vector width.
    {{2, 17, 6, 6}, {3, 1, 1}, kCL},
};

std::string str(const PoolCase& c, const char* op) {
  return std::string(op) + " " + shape_str(c.shape) + " k" + std::to_string(c.p.kernel) + " s" +
         std::to_string(c.p.stride) + " p" + std::to_string(c.p.padding) + " " + layout_name(c.layout);
}

Shape pool_out(const PoolCase& c) {
  return {c.shape[0], c.shape[1], conv_out_size(c.shape[2], c.p.kernel, c.p.stride, c.p.padding),
          conv_out_size(c.shape[3], c.p.kernel, c.p.stride, c.p.padding)};
}

TEST_P(BackendVsRef, MaxPoolForwardAndWorkspaceRoutedBackward) {
  const bool compare_workspace = backend().argmax_workspace;
  for (const PoolCase& c : kPoolCases) {
    // Distinct values: no ties, so both backends pick the same argmax.
    const Tensor x = distinct_random_tensor(c.shape, DType::f32, gen_, c.layout, 0.01);
    const Tensor dy = rand(pool_out(c), c.layout);
    expect_matches_ref(
        [&](Device d) {
          Tensor y = empty(pool_out(c), c.layout, d), dx = empty(c.shape, c.layout, d), workspace;
          const Tensor xd = to_device(x, d), dyd = to_device(dy, d);
          max_pool2d_forward(xd, c.p, y, workspace);
          max_pool2d_backward(dyd, workspace, c.p, dx);
          return compare_workspace ? Outputs{y, dx, workspace} : Outputs{y, dx};
        },
        compare_workspace ? std::vector<std::string>{"y", "dx", "workspace (argmax)"} : std::vector<std::string>{"y", "dx"},
        kExact, str(c, "max pool"));
  }
}

TEST_P(BackendVsRef, AvgPoolForwardBackwardCountsPadding) {
  for (const PoolCase& c : kPoolCases) {
    const Tensor x = rand(c.shape, c.layout), dy = rand(pool_out(c), c.layout);
    expect_matches_ref(
        [&](Device d) {
          Tensor y = empty(pool_out(c), c.layout, d), dx = empty(c.shape, c.layout, d);
          const Tensor xd = to_device(x, d), dyd = to_device(dy, d);
          avg_pool2d_forward(xd, c.p, y);
          avg_pool2d_backward(dyd, c.p, dx);
          return Outputs{y, dx};
        },
        {"y", "dx"}, kExact, str(c, "avg pool"));
  }
}

TEST_P(BackendVsRef, GlobalAvgPool) {
  for (const auto& c : {std::pair{Shape{3, 20, 5, 7}, kCL}, {Shape{1, 7, 4, 4}, kRowMajor}}) {
    const Shape shape = c.first;
    const MemoryFormat layout = c.second;
    const Tensor x = rand(shape, layout), dy = rand({shape[0], shape[1]});
    expect_matches_ref(
        [&](Device d) {
          Tensor y = empty({shape[0], shape[1]}, kRowMajor, d), dx = empty(shape, layout, d);
          const Tensor xd = to_device(x, d), dyd = to_device(dy, d);
          global_avg_pool_forward(xd, y);
          global_avg_pool_backward(dyd, dx);
          return Outputs{y, dx};
        },
        {"y", "dx"}, backend().global_avg_pool, "global avg pool " + shape_str(shape) + " " + layout_name(layout));
  }
}

// ---------------------------------------------------------------- linear

// Forward, backward-data and backward-weights of x [n, k] -> y [n, m] on device d, on inputs drawn now.
DeviceOp linear_op(int64_t n, int64_t k, int64_t m, bool bias, DType dtype, Generator& gen) {
  const Tensor x = random_tensor({n, k}, dtype, gen), w = random_tensor({m, k}, dtype, gen);
  const Tensor b = bias ? random_tensor({m}, dtype, gen) : undefined(), dy = random_tensor({n, m}, dtype, gen);
  return [=](Device d) {
    const Tensor xd = to_device(x, d), wd = to_device(w, d), bd = to_device(b, d), dyd = to_device(dy, d);
    Tensor y = Tensor::empty({n, m}, dtype, d), dx = Tensor::empty({n, k}, dtype, d), dw = Tensor::empty({m, k}, dtype, d);
    Tensor db = bias ? Tensor::empty({m}, dtype, d) : undefined();
    linear_forward(xd, wd, bd, y);
    linear_backward_data(dyd, wd, dx);
    linear_backward_weights(xd, dyd, dw, db);
    return bias ? Outputs{y, dx, dw, db} : Outputs{y, dx, dw};
  };
}

TEST_P(BackendVsRef, Linear) {
  for (const auto& c : {std::tuple{5, 37, 10, true}, {1, 64, 3, false}, {33, 17, 100, true}}) {
    const int64_t n = std::get<0>(c), k = std::get<1>(c), m = std::get<2>(c);
    const bool bias = std::get<3>(c);
    expect_matches_ref(linear_op(n, k, m, bias, DType::f32, gen_), weighted_op_names(bias), kReduce,
                       "linear " + std::to_string(n) + "x" + std::to_string(k) + " -> " + std::to_string(m));
  }
}

// ---------------------------------------------------------------- relu, elementwise, concat

TEST_P(BackendVsRef, Relu) {
  for (const auto& c : {std::pair{Shape{2, 19, 5, 3}, kCL}, {Shape{1, 4, 3, 3}, kRowMajor}, {Shape{7, 13}, kRowMajor}}) {
    const Shape shape = c.first;
    const MemoryFormat layout = c.second;
    const Tensor x = rand(shape, layout), dy = rand(shape, layout);
    expect_matches_ref(
        [&](Device d) {
          Tensor y = empty(shape, layout, d), dx = empty(shape, layout, d);
          const Tensor xd = to_device(x, d), dyd = to_device(dy, d);
          relu_forward(xd, y);
          relu_backward(dyd, y, dx);
          return Outputs{y, dx};
        },
        {"y", "dx"}, kExact, "relu " + shape_str(shape) + " " + layout_name(layout));
  }
}

TEST_P(BackendVsRef, AddAxpyScaleAcrossLayouts) {
  const Shape shape{2, 6, 5, 3};
  const Tensor a = rand(shape, kCL), b = rand(shape, kRowMajor), acc0 = rand(shape, kCL);
  for (MemoryFormat out : {kCL, kRowMajor}) {
    expect_matches_ref(
        [&](Device d) {
          const Tensor ad = to_device(a, d), bd = to_device(b, d);
          Tensor y = empty(shape, out, d), s = empty(shape, out, d), acc = to_device(acc0.contiguous(out), d).clone();
          add_forward(ad, bd, y);
          scale(-0.75, bd, s);
          axpy(0.5, ad, acc);
          return Outputs{y, s, acc};
        },
        {"a + b", "scale", "axpy"}, kExact, std::string("elementwise into ") + layout_name(out));
  }
}

TEST_P(BackendVsRef, ConcatChannels) {
  // Mixed layouts of 4-D inputs, and the 2-D case.
  const std::vector<Tensor> xs4 = {rand({2, 3, 5, 4}, kCL), rand({2, 16, 5, 4}, kRowMajor), rand({2, 1, 5, 4}, kCL)};
  const std::vector<Tensor> xs2 = {rand({3, 4}), rand({3, 9})};
  for (MemoryFormat out : {kCL, kRowMajor}) {
    expect_matches_ref(
        [&](Device d) {
          Tensor y = empty({2, 20, 5, 4}, out, d);
          const std::vector<Tensor> xs = to_device(xs4, d);
          concat_channels_forward(xs, y);
          return Outputs{y};
        },
        {"y"}, kExact, std::string("concat 4-D into ") + layout_name(out));
  }
  expect_matches_ref(
      [&](Device d) {
        Tensor y = empty({3, 13}, kRowMajor, d);
        const std::vector<Tensor> xs = to_device(xs2, d);
        concat_channels_forward(xs, y);
        return Outputs{y};
      },
      {"y"}, kExact, "concat 2-D");
}

// ---------------------------------------------------------------- loss and optimizer

TEST_P(BackendVsRef, CrossEntropy) {
  for (auto size : {std::pair{7, 10}, {1, 3}, {64, 100}, {5, 1000}}) {
    const int64_t n = size.first, c = size.second;  // plain variables: lambdas capture them (clang 14)
    Tensor logits = rand({n, c});
    scale(8.0, logits, logits);  // large logits: the max subtraction matters
    const Tensor labels = random_labels(n, c, gen_);
    const std::string context = "cross entropy " + std::to_string(n) + "x" + std::to_string(c);
    // Labels on the device (as the trainer passes them) and on the host: both are accepted.
    for (bool labels_on_device : backend().labels_on_device) {
      expect_matches_ref(
          [&](Device d) {
            Tensor loss = empty({1}, kRowMajor, d), probs = empty({n, c}, kRowMajor, d);
            const Tensor ld = to_device(logits, d), lab = labels_on_device ? to_device(labels, d) : labels;
            cross_entropy_forward(ld, lab, loss, probs);
            return Outputs{loss, probs};
          },
          {"loss", "probs"}, backend().cross_entropy_forward,
          context + (device().is_cpu() ? "" : labels_on_device ? ", labels on device" : ", labels on host"));
    }
    // The backward gets the same probabilities on both sides: probs - 1 at the label cancels, so the float32
    // rounding of two separately computed probabilities would dominate the comparison.
    const Tensor probs = rand({n, c}, kRowMajor);
    expect_matches_ref(
        [&](Device d) {
          Tensor dlogits = empty({n, c}, kRowMajor, d);
          const Tensor pd = to_device(probs, d), lab = to_device(labels, d);
          cross_entropy_backward(pd, lab, 0.7, dlogits);
          return Outputs{dlogits};
        },
        {"dlogits"}, kExact, context);
  }
}

TEST_P(BackendVsRef, SgdMomentumNesterovWeightDecay) {
  const std::vector<Tensor> params0 = {rand({8, 3, 3, 3}), rand({8}), rand({10, 8})};
  const std::vector<Tensor> grads0 = {rand({8, 3, 3, 3}), rand({8}), rand({10, 8})};
  for (bool nesterov : {false, true}) {
    for (double momentum : {0.0, 0.9}) {
      if (nesterov && momentum == 0.0) continue;
      expect_matches_ref(
          [&](Device d) {
            std::vector<Tensor> params, buffers;
            const std::vector<Tensor> grads = to_device(grads0, d);
            for (const Tensor& p : params0) {
              params.push_back(to_device(p, d).clone());
              buffers.push_back(Tensor::zeros(p.shape(), DType::f32, d));
            }
            SgdParams sp{0.1, momentum, 5e-4, nesterov};
            const uint64_t version = params[0].storage()->version();
            sgd_update(params, grads, buffers, sp);
            EXPECT_GT(params[0].storage()->version(), version) << "sgd_update must bump the parameter's version";
            sgd_update(params, grads, buffers, sp);
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

std::string backend_name(const ::testing::TestParamInfo<Backend>& info) { return info.param.name; }

INSTANTIATE_TEST_SUITE_P(Cpu, BackendVsRef, ::testing::Values(kCpu), backend_name);
INSTANTIATE_TEST_SUITE_P(Cuda, BackendVsRef, ::testing::Values(kCuda), backend_name);

// ---------------------------------------------------------------- float64 on the GPU (cuda only)

TEST(CudaVsRef, Float64ConvolutionAndLinear) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device: this build has no CUDA backend or the machine no driver/GPU";
  // float64 CUDA tensors also dispatch to the cuda backend (cuDNN and cuBLAS in double); float64 CPU tensors
  // always go to the reference backend, so the cpu backend has no such comparison.
  constexpr double kDouble = 1e-10;
  Generator gen(kCuda.seed);
  for (const ConvCase& c : {ConvCase{2, 3, 9, 7, 5, 3, 1, 1, true, kCL}, ConvCase{2, 5, 9, 7, 4, 1, 2, 0, false, kRowMajor}})
    expect_backend_matches_ref(Device::cuda(), conv_op(c, DType::f64, gen), kDouble, "float64 " + str(c),
                               weighted_op_names(c.bias));
  expect_backend_matches_ref(Device::cuda(), linear_op(5, 37, 10, true, DType::f64, gen), kDouble, "float64 linear",
                             weighted_op_names(true));
}

}  // namespace
