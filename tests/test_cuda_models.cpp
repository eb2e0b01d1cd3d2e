// Whole models on the GPU against the same models on the CPU: ResNet18, VGG11 and DenseNet40 at small
// width, built once on the CPU, copied to a second instance moved to the GPU (Module::to, then
// load_state_dict from the CPU model's state_dict), and fed the same batch in training mode.
//  - one forward/backward: logits, loss, every parameter's gradient and every buffer (running statistics)
//    agree;
//  - ten SGD steps (momentum, weight decay): every step's loss and the final parameters agree.
// The CPU side is the default float32 backend (oneDNN); the GPU side runs cuDNN/cuBLAS with TF32 off.
//
// Tolerances (testing::max_rel_error, i.e. relative to each tensor's largest magnitude). Each float32
// convolution differs by ~1e-6 relative between backends (different summation orders, Winograd), and the
// difference grows through ~20 layers and batch norm's backward (which subtracts per-channel means of
// the gradient, a cancellation), so:
//  - logits and running statistics 1e-4, the loss 1e-5;
//  - parameter gradients 2e-3 (small-magnitude gradients of early layers carry the most relative noise);
//  - after ten steps of lr 0.05: losses 1e-3 relative each step, parameters 1e-3.
// Every test skips (GTEST_SKIP) without a CUDA device; the file uses only the framework API.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "autograd/functional.h"
#include "backends/device_query.h"
#include "core/init.h"
#include "layers/models/network.h"
#include "optim/sgd.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

constexpr double kLogitsTol = 1e-4;
constexpr double kLossTol = 1e-5;
constexpr double kGradTol = 2e-3;
constexpr double kBufferTol = 1e-4;
constexpr double kTrainLossTol = 1e-3;
constexpr double kTrainParamTol = 1e-3;

struct ModelCase {
  const char* arch;
  int depth;
  double width;
};

std::string name(const ModelCase& c) { return std::string(c.arch) + std::to_string(c.depth); }

// A CPU model and its GPU twin with identical parameters and buffers.
struct Twins {
  NetworkPtr cpu, gpu;
};

Twins make_twins(const ModelCase& c) {
  const ModelConfig config{c.arch, c.depth, c.width, 3, 32, 10};
  Generator g_cpu(1234), g_gpu(99);  // different seeds: the weights must come from load_state_dict
  Twins t{build_model(config, g_cpu), build_model(config, g_gpu)};
  t.gpu->to(Device::cuda());
  t.gpu->load_state_dict(t.cpu->state_dict());
  return t;
}

struct Batch {
  Tensor x, labels;
};

Batch make_batch(int64_t n, uint64_t seed) {
  Generator g(seed);
  Batch b{Tensor::empty({n, 3, 32, 32}, DType::f32, Device::cpu(), MemoryFormat::channels_last),
          Tensor::empty({n}, DType::i64)};
  normal_(b.x, 0.0, 1.0, g);
  for (int64_t i = 0; i < n; ++i) b.labels.data<int64_t>()[i] = static_cast<int64_t>(g.below(10));
  return b;
}

// Forward and backward on `net` (whose device the batch is moved to); returns logits and loss.
std::pair<Tensor, double> forward_backward(Network& net, const Batch& batch, Device device) {
  const Variable logits = net(Variable(batch.x.to(device)));
  const Variable loss = cross_entropy(logits, batch.labels.to(device));
  loss.backward();
  return {logits.data(), loss.data().item()};
}

void expect_close_rel(const Tensor& gpu, const Tensor& cpu, double tol, const std::string& what) {
  ASSERT_EQ(gpu.shape(), cpu.shape()) << what;
  const double err = max_rel_error(gpu, cpu);
  EXPECT_LT(err, tol) << what << ": GPU and CPU differ (max relative error " << err << ", tolerance " << tol << ")";
}

std::string context(const ModelCase& c, const std::string& what) { return name(c) + " " + what; }

class CudaModels : public ::testing::TestWithParam<ModelCase> {
 protected:
  void SetUp() override {
    if (!cuda_device_available())
      GTEST_SKIP() << "no CUDA device: this build has no CUDA backend or the machine no driver/GPU; CUDA tests "
                      "skipped";
  }
};

TEST_P(CudaModels, OneStepLogitsLossGradientsAndBuffersAgree) {
  const ModelCase c = GetParam();
  Twins t = make_twins(c);
  t.cpu->train();
  t.gpu->train();
  const Batch batch = make_batch(8, 7);
  const auto [logits_cpu, loss_cpu] = forward_backward(*t.cpu, batch, Device::cpu());
  const auto [logits_gpu, loss_gpu] = forward_backward(*t.gpu, batch, Device::cuda());
  ASSERT_TRUE(logits_gpu.device().is_cuda());
  expect_close_rel(logits_gpu, logits_cpu, kLogitsTol, context(c, "logits"));
  EXPECT_NEAR(loss_gpu, loss_cpu, kLossTol * std::abs(loss_cpu)) << context(c, "loss");

  const auto params_cpu = t.cpu->named_parameters(), params_gpu = t.gpu->named_parameters();
  ASSERT_EQ(params_cpu.size(), params_gpu.size());
  for (size_t i = 0; i < params_cpu.size(); ++i) {
    const auto& [name_cpu, p_cpu] = params_cpu[i];
    const auto& [name_gpu, p_gpu] = params_gpu[i];
    ASSERT_EQ(name_cpu, name_gpu);
    ASSERT_TRUE(p_cpu.grad().defined() && p_gpu.grad().defined()) << context(c, name_cpu) << " has no gradient";
    EXPECT_TRUE(p_gpu.grad().device().is_cuda()) << context(c, name_gpu);
    expect_close_rel(p_gpu.grad(), p_cpu.grad(), kGradTol, context(c, "gradient of " + name_cpu));
  }
  const auto buffers_cpu = t.cpu->named_buffers(), buffers_gpu = t.gpu->named_buffers();
  ASSERT_EQ(buffers_cpu.size(), buffers_gpu.size());
  for (size_t i = 0; i < buffers_cpu.size(); ++i) {
    if (buffers_cpu[i].second.dtype() != DType::f32) continue;  // num_batches_tracked: host-side bookkeeping
    expect_close_rel(buffers_gpu[i].second, buffers_cpu[i].second, kBufferTol, context(c, buffers_cpu[i].first));
  }
}

TEST_P(CudaModels, TenSgdStepsStayTogether) {
  const ModelCase c = GetParam();
  Twins t = make_twins(c);
  t.cpu->train();
  t.gpu->train();
  const SgdOptions options{0.05, 0.9, 5e-4, false};
  SGD sgd_cpu(t.cpu->parameters(), options), sgd_gpu(t.gpu->parameters(), options);
  for (int step = 0; step < 10; ++step) {
    const Batch batch = make_batch(8, 100 + static_cast<uint64_t>(step));
    sgd_cpu.zero_grad();
    sgd_gpu.zero_grad();
    const double loss_cpu = forward_backward(*t.cpu, batch, Device::cpu()).second;
    const double loss_gpu = forward_backward(*t.gpu, batch, Device::cuda()).second;
    ASSERT_TRUE(std::isfinite(loss_gpu)) << context(c, "step " + std::to_string(step));
    EXPECT_NEAR(loss_gpu, loss_cpu, kTrainLossTol * std::abs(loss_cpu)) << context(c, "loss at step " + std::to_string(step));
    sgd_cpu.step();
    sgd_gpu.step();
  }
  const auto params_cpu = t.cpu->named_parameters(), params_gpu = t.gpu->named_parameters();
  for (size_t i = 0; i < params_cpu.size(); ++i)
    expect_close_rel(params_gpu[i].second.data(), params_cpu[i].second.data(), kTrainParamTol,
                     context(c, params_cpu[i].first + " after 10 steps"));
}

TEST_P(CudaModels, EvalModeForwardAgrees) {
  const ModelCase c = GetParam();
  Twins t = make_twins(c);
  t.cpu->eval();
  t.gpu->eval();
  NoGradGuard no_grad;
  const Batch batch = make_batch(4, 3);
  const Tensor logits_cpu = (*t.cpu)(Variable(batch.x)).data();
  const Tensor logits_gpu = (*t.gpu)(Variable(batch.x.to(Device::cuda()))).data();
  expect_close_rel(logits_gpu, logits_cpu, kLogitsTol, context(c, "eval logits"));
}

// DenseNet's concatenations make its backward copy channel slices of gradients (a strided device copy).
INSTANTIATE_TEST_SUITE_P(SmallWidth, CudaModels,
                         ::testing::Values(ModelCase{"resnet", 18, 0.25}, ModelCase{"vgg", 11, 0.25},
                                           ModelCase{"densenet", 40, 0.5}),
                         [](const ::testing::TestParamInfo<ModelCase>& info) { return name(info.param); });

}  // namespace
