// LeakyReLU, the worked example of a new differentiable primitive (docs/extending.md §2): its reference
// kernels against finite differences in float64, the differentiable op against finite differences, the
// oneDNN kernels against the reference, and the module inside a network.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "autograd/ops/leaky_relu.h"
#include "backends/cpu/onednn_common.h"
#include "layers/layers.h"
#include "layers/leaky_relu.h"
#include "backends/device_query.h"
#include "tests/testing/backend_compare.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

constexpr MemoryFormat kCL = MemoryFormat::channels_last;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;
const double kSlopes[] = {0.01, 0.2, -0.5, 1.5};

Tensor empty(const Shape& shape, DType dtype, MemoryFormat format) {
  return Tensor::empty(shape, dtype, Device::cpu(), shape.size() == 4 ? format : kRowMajor);
}

}  // namespace

TEST(LeakyRelu, SlotsHaveRefAndCpuImplementations) {
  for (Impl impl : {Impl::ref, Impl::cpu}) {
    EXPECT_TRUE(leaky_relu_forward.has(impl)) << impl_name(impl);
    EXPECT_TRUE(leaky_relu_backward.has(impl)) << impl_name(impl);
  }
#ifdef COLLAPSE_WITH_CUDA
  EXPECT_TRUE(leaky_relu_forward.has(Impl::cuda));
  EXPECT_TRUE(leaky_relu_backward.has(Impl::cuda));
#endif
}

TEST(LeakyRelu, ForwardAndBackwardByHand) {
  const Tensor x = tensor_from_values({-2, 0, 3, -0.5}, {4});
  Tensor y = Tensor::empty({4}, DType::f64), dx = Tensor::empty({4}, DType::f64);
  leaky_relu_forward(x, 0.1, y);
  expect_close(y, tensor_from_values({-0.2, 0, 3, -0.05}, {4}), 1e-15, 0, "y");
  leaky_relu_backward(tensor_from_values({1, 2, 3, 4}, {4}), x, 0.1, dx);
  expect_close(dx, tensor_from_values({0.1, 0.2, 3, 0.4}, {4}), 1e-15, 0, "dx");  // at x == 0: slope
}

// The kernel recipe of tests/testing/gradcheck.h: loss = sum(y ⊙ r), so dL/dx is the backward of dy = r.
TEST(LeakyRelu, RefKernelGradientMatchesFiniteDifferences) {
  Generator gen(9);
  for (const Shape& shape : {Shape{2, 3, 4, 5}, Shape{7, 3}})
    for (MemoryFormat layout : {kCL, kRowMajor})
      for (double slope : kSlopes) {
        SCOPED_TRACE(shape_str(shape) + " slope " + std::to_string(slope));
        Tensor x = random_tensor_away_from_zero(shape, DType::f64, gen, shape.size() == 4 ? layout : kRowMajor);
        const Tensor r = random_tensor(shape, DType::f64, gen);  // row-major: layouts differ on purpose
        auto loss = [&] {
          Tensor y = empty(shape, DType::f64, layout);
          leaky_relu_forward(x, slope, y);
          return dot(y, r);
        };
        Tensor dx = empty(shape, DType::f64, layout);
        leaky_relu_backward(r, x, slope, dx);
        expect_gradient_matches(loss, x, dx, 1e-6, "dx");
      }
}

// The differentiable op, through autograd: x.grad after backward(r) against finite differences.
TEST(LeakyRelu, OpGradientMatchesFiniteDifferences) {
  Generator gen(10);
  for (double slope : kSlopes) {
    Variable x(random_tensor_away_from_zero({2, 3, 4, 4}, DType::f64, gen, kCL), /*requires_grad=*/true);
    const Tensor r = random_tensor({2, 3, 4, 4}, DType::f64, gen);
    leaky_relu(x, slope).backward(r);
    expect_gradient_matches([&] { return dot(leaky_relu(x.detach(), slope).data(), r); }, x.data(), x.grad(), 1e-6,
                            "leaky_relu dx, slope " + std::to_string(slope));
  }
}

TEST(LeakyRelu, CpuMatchesRef) {
  Generator gen(11);
  for (const Shape& shape : {Shape{2, 19, 5, 3}, Shape{1, 4, 3, 3}, Shape{7, 13}})
    for (auto layouts : {std::pair{kCL, kCL}, {kRowMajor, kRowMajor}, {kRowMajor, kCL}})
      for (double slope : kSlopes) {
        const MemoryFormat in = layouts.first, out = layouts.second;  // plain variables: lambdas capture them
        const Tensor x = random_tensor(shape, DType::f32, gen, shape.size() == 4 ? in : kRowMajor);
        const Tensor dy = random_tensor(shape, DType::f32, gen, shape.size() == 4 ? in : kRowMajor);
        expect_cpu_matches_ref(
            [&] {
              Tensor y = empty(shape, DType::f32, out), dx = empty(shape, DType::f32, out);
              leaky_relu_forward(x, slope, y);
              leaky_relu_backward(dy, x, slope, dx);
              return std::vector<Tensor>{y, dx};
            },
            1e-6, "leaky_relu " + shape_str(shape) + " slope " + std::to_string(slope));
      }
}

TEST(LeakyRelu, CpuAgreesWithRefAtZero) {
  // The kink: both backends take the derivative at x == 0 to be the slope.
  const Tensor x = tensor_from_values({0, 0, 1, -1}, {4}, DType::f32), dy = Tensor::full({4}, 1.0);
  expect_cpu_matches_ref(
      [&] {
        Tensor dx = Tensor::empty({4});
        leaky_relu_backward(dy, x, 0.25, dx);
        return std::vector<Tensor>{dx};
      },
      1e-12, "derivative at 0");
}

TEST(LeakyRelu, CpuCreatesPrimitivesOncePerShapeAndSlope) {
  Generator gen(12);
  const Tensor x = random_tensor({2, 8, 5, 5}, DType::f32, gen, kCL);
  Tensor y = Tensor::empty_activation(x.shape()), dx = Tensor::empty_activation(x.shape());
  leaky_relu_forward(x, 0.3, y);
  leaky_relu_backward(x, x, 0.3, dx);
  const size_t after_first = cpu_primitive_creations();
  leaky_relu_forward(x, 0.3, y);
  leaky_relu_backward(x, x, 0.3, dx);
  EXPECT_EQ(cpu_primitive_creations(), after_first) << "a repeated call must reuse the cached primitives";
  leaky_relu_forward(x, 0.4, y);  // another slope is another primitive
  EXPECT_GT(cpu_primitive_creations(), after_first);
}

TEST(LeakyRelu, ModuleInANetwork) {
  Generator gen(13);
  auto act = std::make_shared<LeakyReLU>(0.2);
  EXPECT_EQ(act->type_name(), "LeakyReLU");
  EXPECT_EQ(act->parameter_count(), 0);
  Sequential net{std::make_shared<Linear>(5, 7, gen), act, std::make_shared<Linear>(7, 3, gen)};

  // Slope 0 is ReLU.
  const Variable x(random_tensor({4, 5}, DType::f32, gen));
  Variable hidden = net.at(0)(x);
  expect_close(LeakyReLU(0.0)(hidden).data(), ReLU()(hidden).data(), 0, 0, "slope 0 == relu");

  // Trains: every parameter gets a gradient through the activation.
  Variable logits = net(x);
  EXPECT_EQ(logits.shape(), (Shape{4, 3}));
  cross_entropy(logits, random_labels(4, 3, gen)).backward();
  for (auto& [name, p] : net.named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
}

TEST(LeakyRelu, BadArgumentsNameTheOp) {
  const Tensor x = Tensor::zeros({4}, DType::f64);
  Tensor y = Tensor::zeros({5}, DType::f64);
  expect_error_containing([&] { leaky_relu_forward(x, 0.1, y); }, {"leaky_relu_forward", "[5]", "[4]"});
  Tensor y32 = Tensor::zeros({4});
  const Tensor x32 = Tensor::zeros({4});
  Tensor y64 = Tensor::zeros({4}, DType::f64);
  expect_error_containing([&] { leaky_relu_forward(x32, 0.1, y64); }, {"leaky_relu_forward"});
}

// The CUDA kernels against the reference, on a GPU build with a device; skipped elsewhere.
TEST(LeakyRelu, CudaMatchesRef) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device (or a CPU-only build)";
  Generator gen(14);
  for (DType dtype : {DType::f32, DType::f64})
    for (auto layouts : {std::pair{kCL, kCL}, {kRowMajor, kCL}}) {
      const MemoryFormat in = layouts.first, out = layouts.second;  // plain variables: lambdas capture them
      const Shape shape{2, 5, 4, 3};
      const Tensor x = random_tensor(shape, dtype, gen, in), dy = random_tensor(shape, dtype, gen, in);
      expect_backend_matches_ref(
          Device::cuda(),
          [&](Device d) {
            const Tensor xd = to_device(x, d), dyd = to_device(dy, d);
            Tensor y = Tensor::empty(shape, dtype, d, out), dx = Tensor::empty(shape, dtype, d, out);
            leaky_relu_forward(xd, -0.3, y);
            leaky_relu_backward(dyd, xd, -0.3, dx);
            return Outputs{y, dx};
          },
          1e-6, std::string("leaky_relu ") + dtype_name(dtype), {"y", "dx"});
    }
}
