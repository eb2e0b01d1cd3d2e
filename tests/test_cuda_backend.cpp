// What only the CUDA backend (backends/cuda) has; its kernel-by-kernel comparison with the reference backend
// is Cuda/BackendVsRef.* (and CudaVsRef.Float64ConvolutionAndLinear) in test_backend_vs_ref.cpp. Here: the
// max-pool workspace on the device, label range errors, copies between host and device, the caching
// allocator's steady state, error messages (a host tensor among device ones), bitwise reproducibility
// (deterministic mode) and the device query.
//
// Every test skips (GTEST_SKIP) when no CUDA device answers: CPU-only builds, machines without a GPU.
// The file uses only the framework's API, so it compiles in every build.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
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

constexpr MemoryFormat kCL = MemoryFormat::channels_last;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;

Generator& gen() {
  static Generator g(20240917);
  return g;
}

Tensor rand(const Shape& shape, MemoryFormat format = kRowMajor, DType dtype = DType::f32) {
  return random_tensor(shape, dtype, gen(), format);
}
Tensor empty(const Shape& shape, MemoryFormat format, Device device, DType dtype = DType::f32) {
  return Tensor::empty(shape, dtype, device, format);
}
Tensor undefined() { return Tensor(); }
const char* layout_name(MemoryFormat f) { return f == kCL ? "channels_last" : "row_major"; }

// ---------------------------------------------------------------- backend plumbing

TEST(CudaBackend, MaxPoolWorkspaceLivesOnTheDevice) {
  SKIP_WITHOUT_CUDA();
  const Pool2dParams p{3, 2, 1};
  const Tensor x = rand({2, 8, 9, 9}, kCL).to(Device::cuda());
  Tensor y = empty({2, 8, 5, 5}, kCL, Device::cuda()), workspace;
  max_pool2d_forward(x, p, y, workspace);
  EXPECT_EQ(workspace.dtype(), DType::i64);
  EXPECT_TRUE(workspace.device().is_cuda());
  EXPECT_EQ(workspace.shape(), (Shape{2, 8, 5, 5}));
  Tensor dx = empty(x.shape(), kCL, Device::cuda());
  const Tensor host_workspace = Tensor::zeros({2, 8, 5, 5}, DType::i64);  // e.g. the reference backend's
  expect_error_containing([&] { max_pool2d_backward(y, host_workspace, p, dx); },
                          {"max_pool2d_backward", "workspace"});
}

TEST(CudaBackend, CrossEntropyRejectsOutOfRangeLabels) {
  SKIP_WITHOUT_CUDA();
  const Tensor logits = rand({3, 10}).to(Device::cuda());
  Tensor loss = empty({1}, kRowMajor, Device::cuda()), probs = empty({3, 10}, kRowMajor, Device::cuda());
  const Tensor bad = Tensor::from_vector(std::vector<int64_t>{1, 10, 2}, {3});
  for (const Tensor& labels : {bad, bad.to(Device::cuda())})
    expect_error_containing([&] { cross_entropy_forward(logits, labels, loss, probs); },
                            {"cross_entropy_forward", "label 10", "[0, 10)"});
}

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
  expect_error_containing([&] { conv2d_forward(x, w, undefined(), Conv2dParams{1, 1}, y); },
                          {"conv2d_forward", "[2, 3, 8, 8]", "[4, 5, 3, 3]"});
  Tensor a = rand({3, 4}).to(gpu), b = rand({4, 3}).to(gpu), out = empty({3, 4}, kRowMajor, gpu);
  expect_error_containing([&] { add_forward(a, b, out); }, {"add_forward", "[3, 4]", "[4, 3]"});
  // A host tensor among device ones is refused, naming it.
  const Tensor host_b = rand({3, 4});
  expect_error_containing([&] { add_forward(a, host_b, out); }, {"add_forward", "b", "cpu"});
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
    conv2d_forward(x, w1, Tensor(), p1, a1);
    batch_norm_forward_train(a1, gamma, beta, rm, rv, 0.1, 1e-5, b1, mean, var);
    relu_forward(b1, r1);
    add_forward(r1, b1, s1);  // a residual connection
    max_pool2d_forward(s1, pool, m1, ws);
    concat_channels_forward(std::vector<Tensor>{m1, m1}, cat);
    conv2d_forward(cat, w2, Tensor(), p2, a2);
    global_avg_pool_forward(a2, g);
    linear_forward(g, fc, Tensor(), logits);
    cross_entropy_forward(logits, labels, loss, probs);

    Tensor dlogits = plain({4, 5}), dg = plain({4, 16}), dfc = plain({5, 16}), da2 = act(a2.shape());
    Tensor dcat = act(cat.shape()), dw2 = plain(w2.shape()), dm1 = act(m1.shape()), ds1 = act(s1.shape());
    Tensor db1 = act(b1.shape()), da1 = act(a1.shape()), dw1 = plain(w1.shape()), dgamma = plain({8});
    Tensor dbeta = plain({8}), none;
    cross_entropy_backward(probs, labels, 1.0, dlogits);
    linear_backward_data(dlogits, fc, dg);
    linear_backward_weights(g, dlogits, dfc, none);
    global_avg_pool_backward(dg, da2);
    conv2d_backward_data(da2, w2, p2, dcat);
    conv2d_backward_weights(cat, da2, p2, dw2, none);
    // m1 fed both halves of the concat: its gradient is the sum of the two channel slices.
    const Tensor first_half = dcat.narrow(1, 0, 8), second_half = dcat.narrow(1, 8, 8);
    scale(1.0, first_half, dm1);
    axpy(1.0, second_half, dm1);
    max_pool2d_backward(dm1, ws, pool, ds1);
    relu_backward(ds1, r1, db1);
    axpy(1.0, ds1, db1);  // the residual's direct path
    batch_norm_backward(db1, a1, gamma, mean, var, 1e-5, da1, dgamma, dbeta);
    conv2d_backward_weights(x, da1, p1, dw1, none);  // the first conv needs no input gradient

    std::vector<Tensor> params = {w1, w2, fc, gamma, beta}, grads = {dw1, dw2, dfc, dgamma, dbeta}, buffers;
    for (const Tensor& t : params) buffers.push_back(Tensor::zeros(t.shape(), DType::f32, d));
    sgd_update(params, grads, buffers, SgdParams{0.01, 0.9, 5e-4, false});
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
    conv2d_backward_weights(x, dy, Conv2dParams{1, 1}, dw, db);
    Tensor dx = empty(x.shape(), kCL, gpu), dgamma = empty({32}, kRowMajor, gpu), dbeta = empty({32}, kRowMajor, gpu);
    batch_norm_backward(dy, x, gamma, mean, var, 1e-5, dx, dgamma, dbeta);
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
