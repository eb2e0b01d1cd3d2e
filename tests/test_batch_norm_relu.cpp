// Fused batch norm (+ residual) + ReLU (batch_norm_relu_* kernels, autograd's batch_norm_relu and
// batch_norm_add_relu, the BatchNormReLU module and Sequential): the reference
// kernels and the ops against finite differences in float64, the cpu kernels against the reference, the
// fused ops against batch_norm, add and relu on ResNet blocks, the module names and hooks the models keep,
// and the CUDA kernels against the reference where a GPU answers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/functional.h"
#include "backends/cpu/onednn_common.h"
#include "backends/device_query.h"
#include "core/storage.h"
#include "layers/layers.h"
#include "layers/models/network.h"
#include "layers/models/resnet.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

constexpr double kGradTol = 1e-6;  // float64 finite differences (step 1e-6)
constexpr double kReduce = 1e-5;   // float32 sums in another order than the double reference
constexpr double kEps = 1e-5, kMomentum = 0.1;
constexpr MemoryFormat kCL = MemoryFormat::channels_last;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;

MemoryFormat layout_for(const Shape& shape, MemoryFormat format) { return shape.size() == 4 ? format : kRowMajor; }
MemoryFormat other(MemoryFormat f) { return f == kCL ? kRowMajor : kCL; }

// Inputs of one batch norm: x shifted and scaled away from 0 mean and unit variance, gamma > 0.
struct BnInputs {
  Tensor x, gamma, beta, running_mean, running_var, dy, residual;
  // residual: undefined, or in `residual_layout` (it may differ from x's).
  BnInputs(const Shape& shape, DType dtype, MemoryFormat layout, Generator& gen, bool with_residual = false,
           MemoryFormat residual_layout = kCL) {
    const int64_t C = shape[1];
    x = random_tensor(shape, dtype, gen, layout_for(shape, layout), -2.0, 3.0);
    gamma = random_tensor({C}, dtype, gen, kRowMajor, 0.5, 1.5);
    beta = random_tensor({C}, dtype, gen);
    running_mean = random_tensor({C}, dtype, gen);
    running_var = random_tensor({C}, dtype, gen, kRowMajor, 0.5, 1.5);
    dy = random_tensor(shape, dtype, gen, layout_for(shape, layout));
    if (with_residual) residual = random_tensor(shape, dtype, gen, layout_for(shape, residual_layout), -1.0, 1.0);
  }
};

// Every output of the three slots (training forward, its backward, eval forward) on the backend that
// dispatch picks for `in`'s tensors (copied to `device`), brought back to the CPU:
// y, save_mean, save_var, running_mean, running_var, dx, dgamma, dbeta, y (eval), with a residual dresidual
// (else an empty tensor in its place), and dx from a second backward given y. The first backward gets y
// only with a residual, as the op calls it (without one, the mask is recomputed from x).
const std::vector<std::string> kOutputNames = {"y",  "save_mean", "save_var", "running_mean", "running_var",
                                               "dx", "dgamma",    "dbeta",    "y (eval)",     "dresidual",
                                               "dx (mask from y)"};
std::vector<Tensor> run_slots(const BnInputs& in, MemoryFormat out_layout, Device device = Device::cpu()) {
  const Shape& shape = in.x.shape();
  const DType dtype = in.x.dtype();
  const Shape channels{shape[1]};
  auto on = [&](const Tensor& t) { return t.clone().to(device); };  // a copy: the forward updates running stats
  auto empty = [&](const Shape& s) { return Tensor::empty(s, dtype, device, layout_for(s, out_layout)); };
  const Tensor x = in.x.to(device);  // as it is on the CPU (only read): a channel slice stays one
  const Tensor gamma = on(in.gamma), beta = on(in.beta), dy = on(in.dy);
  const Tensor residual = in.residual.defined() ? on(in.residual) : Tensor();
  Tensor rm = on(in.running_mean), rv = on(in.running_var);
  Tensor y = empty(shape), mean = empty(channels), var = empty(channels);
  batch_norm_relu_forward_train(x, residual, gamma, beta, rm, rv, kMomentum, kEps, y, mean, var);
  Tensor dx = empty(shape), dgamma = empty(channels), dbeta = empty(channels);
  Tensor dresidual = residual.defined() ? empty(shape) : Tensor::zeros({0});
  Tensor dresidual_arg = residual.defined() ? dresidual : Tensor();
  batch_norm_relu_backward(dy, residual.defined() ? y : Tensor(), x, gamma, beta, mean, var, kEps, dx,
                           dresidual_arg, dgamma, dbeta);
  Tensor dx_from_y = empty(shape), none;
  batch_norm_relu_backward(dy, y, x, gamma, beta, mean, var, kEps, dx_from_y, none, none, none);
  Tensor y_eval = empty(shape);
  batch_norm_relu_forward_eval(x, residual, gamma, beta, rm, rv, kEps, y_eval);
  std::vector<Tensor> out;
  for (const Tensor& t : {y, mean, var, rm, rv, dx, dgamma, dbeta, y_eval, dresidual, dx_from_y})
    out.push_back(t.to(Device::cpu()));
  return out;
}

void expect_all_close(const std::vector<Tensor>& got, const std::vector<Tensor>& want, double tol,
                      const std::string& context) {
  ASSERT_EQ(got.size(), kOutputNames.size());
  ASSERT_EQ(want.size(), kOutputNames.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = max_rel_error(got[i], want[i]);
    EXPECT_LT(err, tol) << context << ": " << kOutputNames[i] << " differs (max relative error " << err << ")";
  }
}

std::vector<Tensor> run_slots_on_ref(const BnInputs& in, MemoryFormat out_layout) {
  ReferenceModeGuard guard;
  return run_slots(in, out_layout);
}

// The shapes of the cpu and cuda comparisons: odd channel counts and N·H·W = 7·5·3, batch 1, 2-D, and one
// large enough for the cpu loops to run in parallel when OpenMP has several threads.
struct Case {
  Shape shape;
  MemoryFormat layout;
};
const Case kCases[] = {{{7, 3, 5, 3}, kCL}, {{7, 5, 5, 3}, kCL},      {{4, 16, 5, 3}, kCL}, {{1, 3, 7, 5}, kCL},
                       {{3, 5, 4, 4}, kRowMajor}, {{7, 5}, kRowMajor}, {{6, 10}, kRowMajor}, {{8, 5, 33, 31}, kCL}};

}  // namespace

TEST(BatchNormRelu, SlotsHaveEveryBackend) {
  for (Impl impl : {Impl::ref, Impl::cpu}) {
    EXPECT_TRUE(batch_norm_relu_forward_train.has(impl)) << impl_name(impl);
    EXPECT_TRUE(batch_norm_relu_forward_eval.has(impl)) << impl_name(impl);
    EXPECT_TRUE(batch_norm_relu_backward.has(impl)) << impl_name(impl);
  }
#ifdef COLLAPSE_WITH_CUDA
  EXPECT_TRUE(batch_norm_relu_forward_train.has(Impl::cuda));
  EXPECT_TRUE(batch_norm_relu_forward_eval.has(Impl::cuda));
  EXPECT_TRUE(batch_norm_relu_backward.has(Impl::cuda));
#endif
}

// ------------------------------------------------------------------------------ reference, float64

TEST(BatchNormRelu, RefTrainingGradientsMatchFiniteDifferences) {
  Generator gen(61);
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{1, 5, 3, 3}, Shape{7, 4}})
    for (MemoryFormat layout : {kCL, kRowMajor})
      for (bool with_residual : {false, true}) {
      if (shape.size() != 4 && layout == kCL) continue;
      SCOPED_TRACE(shape_str(shape) + (layout == kCL ? " channels-last" : " row-major") +
                   (with_residual ? " + residual" : ""));
      BnInputs in(shape, DType::f64, layout, gen, with_residual, layout_for(shape, other(layout)));
      const int64_t C = shape[1];
      const MemoryFormat out_layout = layout_for(shape, other(layout));
      Tensor save_mean = Tensor::empty({C}, DType::f64), save_var = Tensor::empty({C}, DType::f64);
      auto forward = [&] {
        Tensor y = Tensor::empty(shape, DType::f64, Device::cpu(), out_layout);
        batch_norm_relu_forward_train.on(Impl::ref)(in.x, in.residual, in.gamma, in.beta, in.running_mean,
                                                     in.running_var, kMomentum, kEps, y, save_mean, save_var);
        return y;
      };
      const Tensor y = forward();  // the saved statistics and the mask of the unperturbed x
      Tensor dx = Tensor::empty(shape, DType::f64, Device::cpu(), layout_for(shape, layout));
      Tensor dgamma = Tensor::empty({C}, DType::f64), dbeta = Tensor::empty({C}, DType::f64);
      Tensor dresidual = with_residual ? Tensor::empty(shape, DType::f64, Device::cpu(), out_layout) : Tensor();
      // The mask from y with a residual, recomputed from x without one (as the op calls it).
      batch_norm_relu_backward.on(Impl::ref)(in.dy, with_residual ? y : Tensor(), in.x, in.gamma, in.beta,
                                              save_mean, save_var, kEps, dx, dresidual, dgamma, dbeta);
      auto loss = [&] { return dot(forward(), in.dy); };
      expect_gradient_matches(loss, in.x, dx, kGradTol, "dx");
      expect_gradient_matches(loss, in.gamma, dgamma, kGradTol, "dgamma");
      expect_gradient_matches(loss, in.beta, dbeta, kGradTol, "dbeta");
      if (with_residual) expect_gradient_matches(loss, in.residual, dresidual, kGradTol, "dresidual");
      for (double v : y.to_double_vector()) ASSERT_GE(v, 0.0);
    }
}

// The differentiable op in both modes, every input's gradient against finite differences.
TEST(BatchNormRelu, OpGradientsMatchFiniteDifferencesInTrainingAndEval) {
  Generator gen(62);
  for (bool training : {true, false})
    for (bool with_residual : {false, true}) {
    SCOPED_TRACE(std::string(training ? "training" : "eval") + (with_residual ? ", batch_norm_add_relu" : ""));
    BnInputs in({3, 4, 3, 2}, DType::f64, kCL, gen, with_residual, kRowMajor);
    Variable x(in.x, true), gamma(in.gamma, true), beta(in.beta, true);
    Variable residual = with_residual ? Variable(in.residual, true) : Variable();
    auto fused = [&](const Variable& xv, const Variable& r, const Variable& g, const Variable& b) {
      Tensor rm = in.running_mean.clone(), rv = in.running_var.clone();  // training would update them
      return with_residual ? batch_norm_add_relu(xv, r, g, b, rm, rv, training, kMomentum, kEps)
                           : batch_norm_relu(xv, g, b, rm, rv, training, kMomentum, kEps);
    };
    fused(x, residual, gamma, beta).backward(in.dy);
    auto loss = [&] {
      NoGradGuard no_grad;
      const Variable r = with_residual ? residual.detach() : Variable();
      return dot(fused(x.detach(), r, gamma.detach(), beta.detach()).data(), in.dy);
    };
    expect_gradient_matches(loss, in.x, x.grad(), kGradTol, "dx");
    expect_gradient_matches(loss, in.gamma, gamma.grad(), kGradTol, "dgamma");
    expect_gradient_matches(loss, in.beta, beta.grad(), kGradTol, "dbeta");
    if (with_residual) expect_gradient_matches(loss, in.residual, residual.grad(), kGradTol, "dresidual");
  }
}

// A residual of another shape is refused, naming the op and both shapes.
TEST(BatchNormRelu, AddReluRejectsAResidualOfAnotherShape) {
  Generator gen(65);
  BnInputs in({2, 3, 4, 4}, DType::f32, kCL, gen);
  const Tensor wrong = random_tensor({2, 3, 4, 5}, DType::f32, gen, kCL);
  try {
    batch_norm_add_relu(Variable(in.x), Variable(wrong), Variable(in.gamma), Variable(in.beta), in.running_mean,
                        in.running_var, true, kMomentum, kEps);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("batch_norm_add_relu"), std::string::npos) << what;
    EXPECT_NE(what.find("[2, 3, 4, 5]"), std::string::npos) << what;
  }
}

// ------------------------------------------------------------------------------ cpu vs reference

TEST(BatchNormRelu, CpuMatchesRef) {
  Generator gen(63);
  for (const Case& c : kCases)
    for (MemoryFormat out_layout : {c.layout, other(c.layout)})
      for (bool with_residual : {false, true}) {
        const BnInputs in(c.shape, DType::f32, c.layout, gen, with_residual, layout_for(c.shape, out_layout));
        expect_all_close(run_slots(in, out_layout), run_slots_on_ref(in, out_layout), kReduce,
                         (with_residual ? "batch_norm_relu + residual " : "batch_norm_relu ") + shape_str(c.shape));
      }
}

// Without y the cpu backward recomputes the forward's pre-activations from x: the same mask bit for bit, so
// the same gradients as when given y, on a tensor large enough for the parallel loops.
TEST(BatchNormRelu, CpuRecomputedMaskIsTheForwardsExactly) {
  Generator gen(71);
  const BnInputs in({16, 24, 9, 11}, DType::f32, kCL, gen);
  const std::vector<Tensor> out = run_slots(in, kCL);
  expect_close(out[5], out[10], 0, 0, "dx with the mask recomputed vs from y");
  double positive = 0;
  for (double v : out[0].to_double_vector()) positive += v > 0;
  EXPECT_GT(positive, 0.3 * out[0].numel());  // both sides of the ReLU are exercised
  EXPECT_LT(positive, 0.7 * out[0].numel());
}

// The cpu statistics passes add in float before double (batch_norm.cpp): a mean a hundred standard
// deviations from 0 must not cost the variance its digits (the sums are of x minus a value of x), and
// values whose squares or products overflow float (x ~ 1e19, dy ~ 1e20) must give the reference's finite
// statistics and gradients, not a variance of infinity. Shapes of several runs of float sums, one parallel.
TEST(BatchNormRelu, CpuStatisticsSurviveLargeMeansAndFloatOverflow) {
  Generator gen(74);
  struct Scaling {
    double x_scale, x_offset, dy_scale;
  };
  for (const Case& c : {Case{{16, 24, 9, 11}, kCL}, Case{{300, 40}, kRowMajor}})
    for (const Scaling& s : {Scaling{1.0, 100.0, 1.0}, Scaling{1e19, 0.0, 1e20}})
      for (bool with_residual : {false, true}) {
        SCOPED_TRACE(shape_str(c.shape) + " x * " + std::to_string(s.x_scale) + " + " +
                     std::to_string(s.x_offset) + (with_residual ? " + residual" : ""));
        BnInputs in(c.shape, DType::f32, c.layout, gen, with_residual, c.layout);
        scale(s.x_scale, in.x, in.x);
        axpy(s.x_offset, Tensor::full(c.shape, 1.0), in.x);
        scale(s.dy_scale, in.dy, in.dy);
        const std::vector<Tensor> cpu = run_slots(in, c.layout);
        for (size_t i = 0; i < cpu.size(); ++i)
          for (double v : cpu[i].to_double_vector()) ASSERT_TRUE(std::isfinite(v)) << kOutputNames[i];
        expect_all_close(cpu, run_slots_on_ref(in, c.layout), kReduce, "cpu vs ref");
      }
}

// An x that is a channel slice of a wider channels-last tensor (DenseNet's GrowingConcat hands those out)
// is gathered period by period, never copied whole: the same values as the reference and as on a dense
// copy of x.
TEST(BatchNormRelu, CpuReadsAChannelSliceWithoutCopyingIt) {
  Generator gen(72);
  // Channel counts below, at and above 64, a 2-D slice, and [16, 24, 9, 11], large enough for the parallel
  // loops (several threads gathering).
  for (const Shape& shape :
       {Shape{5, 6, 7, 3}, Shape{16, 24, 9, 11}, Shape{3, 64, 5, 3}, Shape{8, 67, 9, 9}, Shape{9, 70}, Shape{40, 5}})
    for (int64_t first_channel : {0, 3})
      for (bool with_residual : {false, true}) {
        SCOPED_TRACE(shape_str(shape) + " from channel " + std::to_string(first_channel) +
                     (with_residual ? " + residual" : ""));
        BnInputs in(shape, DType::f32, kCL, gen, with_residual);
        Shape wide_shape = shape;
        wide_shape[1] += 5;
        const Tensor wide = random_tensor(wide_shape, DType::f32, gen, layout_for(shape, kCL), -2.0, 3.0);
        in.x = wide.narrow(1, first_channel, shape[1]);
        ASSERT_FALSE(in.x.is_dense());
        const std::vector<Tensor> in_place = run_slots(in, kCL);
        expect_all_close(in_place, run_slots_on_ref(in, kCL), kReduce, "slice vs ref");
        in.x = in.x.clone();
        ASSERT_TRUE(in.x.is_dense());
        expect_all_close(in_place, run_slots(in, kCL), kReduce, "slice vs dense copy");
      }
}

// A repeated call takes its scratch from the caching allocator and creates no oneDNN primitive.
TEST(BatchNormRelu, CpuSteadyStateAllocatesNothing) {
  Generator gen(64);
  const BnInputs in({4, 6, 3, 5}, DType::f32, kCL, gen, true);
  run_slots(in, kCL);
  const size_t allocations = cpu_allocation_count(), primitives = cpu_primitive_creations();
  run_slots(in, kCL);
  EXPECT_EQ(cpu_allocation_count(), allocations);
  EXPECT_EQ(cpu_primitive_creations(), primitives);
}

// ------------------------------------------------------------------------------ fused vs unfused

namespace {

template <class M>
M& child(Module& m, const std::string& name) {
  return dynamic_cast<M&>(*m.find_module(name));
}

Variable unfused_batch_norm(BatchNorm& bn, const Variable& x) {
  return batch_norm(x, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.is_training(), bn.momentum, bn.eps);
}

// BasicBlock::forward with batch_norm, add and relu as separate ops, on the block's own modules.
Variable unfused_basic_block(Module& block, const Variable& x) {
  Variable out = relu(unfused_batch_norm(child<BatchNorm>(block, "bn1"), child<Conv2d>(block, "conv1")(x)));
  out = unfused_batch_norm(child<BatchNorm>(block, "bn2"), child<Conv2d>(block, "conv2")(out));
  Module* downsample = block.find_module("downsample");
  const Variable shortcut = downsample ? (*downsample)(x) : x;
  return relu(add(out, shortcut));
}

}  // namespace

// Two identical blocks, one run as the model runs it (fused) and one unfused: outputs, every gradient and
// the running statistics agree, in training and in evaluation, with a downsampling shortcut (4 -> 6
// channels, stride 2) and with the identity.
TEST(BatchNormRelu, FusedEqualsUnfusedOnAResNetBlock) {
  for (bool training : {true, false})
    for (int64_t in_channels : {4, 6}) {
    const int64_t stride = in_channels == 6 ? 1 : 2;
    SCOPED_TRACE(std::string(training ? "training" : "eval") + (stride == 1 ? ", identity shortcut" : ""));
    Generator gen_fused(66), gen_unfused(66), gen(67);
    BasicBlock fused(in_channels, 6, stride, gen_fused), unfused(in_channels, 6, stride, gen_unfused);
    ASSERT_EQ(fused.find_module("downsample") == nullptr, stride == 1);
    fused.train(training);
    unfused.train(training);
    const Tensor x_data = random_tensor({3, in_channels, 7, 5}, DType::f32, gen, kCL);
    Variable x_fused(x_data.clone(), true), x_unfused(x_data.clone(), true);
    Variable y_fused = fused(x_fused), y_unfused = unfused_basic_block(unfused, x_unfused);
    const Tensor seed = random_tensor(y_fused.shape(), DType::f32, gen, kCL);
    y_fused.backward(seed);
    y_unfused.backward(seed);
    EXPECT_LT(max_rel_error(y_fused.data(), y_unfused.data()), kReduce) << "y";
    EXPECT_LT(max_rel_error(x_fused.grad(), x_unfused.grad()), kReduce) << "dx";
    const auto fused_params = fused.named_parameters(), unfused_params = unfused.named_parameters();
    ASSERT_EQ(fused_params.size(), unfused_params.size());
    for (size_t i = 0; i < fused_params.size(); ++i)
      EXPECT_LT(max_rel_error(fused_params[i].second.grad(), unfused_params[i].second.grad()), kReduce)
          << fused_params[i].first;
    const StateDict fused_state = fused.state_dict(), unfused_state = unfused.state_dict();
    ASSERT_EQ(fused_state.size(), unfused_state.size());
    for (size_t i = 0; i < fused_state.size(); ++i) {  // parameters and running statistics, not the counters
      if (fused_state[i].second.dtype() != DType::f32) continue;
      EXPECT_LT(max_rel_error(fused_state[i].second, unfused_state[i].second), kReduce) << fused_state[i].first;
    }
  }
}

// A BatchNormReLU followed by a ReLU in a Sequential (how VGG and DenseNet keep torchvision's indices):
// the value of BatchNorm then ReLU, the BatchNormReLU's hook sees the fused output, the ReLU's hook fires
// with that output as its input and output.
TEST(BatchNormRelu, SequentialBatchNormReluThenReluKeepsValuesAndHooks) {
  Generator gen(68);
  auto bn = std::make_shared<BatchNormReLU>("BatchNorm1d", 5);
  auto relu_module = std::make_shared<ReLU>();
  Sequential seq{bn, relu_module};
  Tensor bn_out, relu_in, relu_out;
  bn->register_forward_hook([&](Module&, const Variable&, const Variable& out) { bn_out = out.data(); });
  relu_module->register_forward_hook([&](Module&, const Variable& in, const Variable& out) {
    relu_in = in.data();
    relu_out = out.data();
  });
  const Tensor x = random_tensor({6, 5}, DType::f32, gen, kRowMajor);
  const Variable y = seq(Variable(x));
  Tensor rm = Tensor::zeros({5}), rv = Tensor::full({5}, 1.0);
  const Variable expected = relu(batch_norm(Variable(x), bn->weight, bn->bias, rm, rv, true, kMomentum, kEps));
  EXPECT_LT(max_rel_error(y.data(), expected.data()), kReduce);
  ASSERT_TRUE(bn_out.defined() && relu_in.defined() && relu_out.defined());
  expect_close(bn_out, y.data(), 0, 0, "BatchNorm hook output");
  expect_close(relu_in, y.data(), 0, 0, "ReLU hook input");
  expect_close(relu_out, y.data(), 0, 0, "ReLU hook output");
  EXPECT_EQ(bn->num_batches_tracked.data<int64_t>()[0], 1);
}

// DenseNet's fused pairs are Sequential entries: the names stay torchvision's, relu5 stays a module.
TEST(BatchNormRelu, DenseNetKeepsNormAndReluNames) {
  Generator gen(69);
  NetworkPtr net = build_model({"densenet", 40, 0.25, 3, 32, 10}, gen);
  std::vector<std::string> keys;
  for (const auto& [name, t] : net->state_dict()) keys.push_back(name);
  for (const char* name : {"features.norm5.weight", "features.norm5.running_var", "features.transition1.norm.bias",
                           "features.denseblock1.denselayer1.norm1.weight"})
    EXPECT_NE(std::find(keys.begin(), keys.end(), name), keys.end()) << name;
  ASSERT_NE(net->find_module("features.relu5"), nullptr);
  EXPECT_EQ(net->find_module("features.relu5")->type_name(), "ReLU");
}

// ------------------------------------------------------------------------------ cuda vs reference

TEST(BatchNormRelu, CudaMatchesRef) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device (or a CPU-only build)";
  Generator gen(70);
  for (DType dtype : {DType::f32, DType::f64})
    for (const Case& c : kCases)
      for (bool with_residual : {false, true}) {
        const BnInputs in(c.shape, dtype, c.layout, gen, with_residual);
        expect_all_close(run_slots(in, c.layout, Device::cuda()), run_slots_on_ref(in, c.layout),
                         dtype == DType::f32 ? kReduce : 1e-10,
                         (with_residual ? "cuda batch_norm_relu + residual " : "cuda batch_norm_relu ") +
                             shape_str(c.shape));
      }
}
