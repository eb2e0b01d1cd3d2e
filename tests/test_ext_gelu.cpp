// GELU, added by following docs/extending.md §2 with new files only: values by hand, the reference
// kernels and the op against finite differences in float64, the oneDNN kernels against the reference,
// the module in a network, and the CUDA kernels where a GPU answers.
#include <gtest/gtest.h>

#include <vector>

#include "autograd/ops/gelu.h"
#include "backends/device_query.h"
#include "layers/gelu.h"
#include "layers/layers.h"
#include "tests/testing/backend_compare.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {
constexpr MemoryFormat kCL = MemoryFormat::channels_last;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;
}  // namespace

TEST(Gelu, ValuesByHand) {
  // x Φ(x) at 0, ±1, 3 and -8 (Φ from erfc: the far negative tail keeps its digits).
  const Tensor x = tensor_from_values({0, 1, -1, 3, -8}, {5});
  Tensor y = Tensor::empty({5}, DType::f64), dx = Tensor::empty({5}, DType::f64);
  gelu_forward(x, y);
  expect_close(y, tensor_from_values({0, 0.8413447460685429, -0.15865525393145707, 2.99595030590511, -4.9767684594174555e-15}, {5}),
               1e-12, 1e-25, "y");
  // dGELU/dx = Φ(x) + x φ(x): 0.5 at 0, 1.0833154705876864 at 1, -0.0833154705876864 at -1.
  gelu_backward(Tensor::full({5}, 1.0, DType::f64), x, dx);
  EXPECT_NEAR(element_at(dx, 0), 0.5, 1e-15);
  EXPECT_NEAR(element_at(dx, 1), 1.0833154705876864, 1e-14);
  EXPECT_NEAR(element_at(dx, 2), -0.0833154705876864, 1e-14);
}

TEST(Gelu, RefKernelGradientMatchesFiniteDifferences) {
  Generator gen(31);
  for (MemoryFormat layout : {kCL, kRowMajor}) {
    const Shape shape{2, 3, 4, 5};
    const Tensor x = random_tensor(shape, DType::f64, gen, layout);
    const Tensor r = random_tensor(shape, DType::f64, gen);  // row-major: layouts differ on purpose
    auto loss = [&] {
      Tensor y = Tensor::empty(shape, DType::f64, Device::cpu(), layout);
      gelu_forward(x, y);
      return dot(y, r);
    };
    Tensor dx = Tensor::empty(shape, DType::f64, Device::cpu(), layout);
    gelu_backward(r, x, dx);
    expect_gradient_matches(loss, x, dx, 1e-6, "dx");
  }
}

TEST(Gelu, OpGradientMatchesFiniteDifferences) {
  Generator gen(32);
  Variable x(random_tensor({2, 3, 4, 4}, DType::f64, gen, kCL), /*requires_grad=*/true);
  const Tensor r = random_tensor({2, 3, 4, 4}, DType::f64, gen);
  gelu(x).backward(r);
  expect_gradient_matches([&] { return dot(gelu(x.detach()).data(), r); }, x.data(), x.grad(), 1e-6, "gelu dx");
}

TEST(Gelu, CpuMatchesRef) {
  Generator gen(33);
  for (const Shape& shape : {Shape{2, 19, 5, 3}, Shape{7, 13}}) {
    const MemoryFormat layout = shape.size() == 4 ? kCL : kRowMajor;
    Tensor x = random_tensor(shape, DType::f32, gen, layout);
    scale(4.0, x, x);  // into both tails
    const Tensor dy = random_tensor(shape, DType::f32, gen, layout);
    expect_cpu_matches_ref(
        [&] {
          Tensor y = Tensor::empty(shape, DType::f32, Device::cpu(), layout);
          Tensor dx = Tensor::empty(shape, DType::f32, Device::cpu(), layout);
          gelu_forward(x, y);
          gelu_backward(dy, x, dx);
          return std::vector<Tensor>{y, dx};
        },
        1e-5, "gelu " + shape_str(shape));
  }
}

TEST(Gelu, ModuleInANetwork) {
  Generator gen(34);
  Sequential net{std::make_shared<Linear>(6, 8, gen), std::make_shared<GELU>(), std::make_shared<Linear>(8, 3, gen)};
  const Variable logits = net(Variable(random_tensor({4, 6}, DType::f32, gen)));
  EXPECT_EQ(logits.shape(), (Shape{4, 3}));
  cross_entropy(logits, random_labels(4, 3, gen)).backward();
  for (auto& [name, p] : net.named_parameters()) EXPECT_TRUE(p.grad().defined()) << name;
}

TEST(Gelu, CudaMatchesRef) {
  if (!cuda_device_available()) GTEST_SKIP() << "no CUDA device (or a CPU-only build)";
  Generator gen(35);
  for (DType dtype : {DType::f32, DType::f64}) {
    const Shape shape{2, 5, 4, 3};
    const Tensor x = random_tensor(shape, dtype, gen, kCL), dy = random_tensor(shape, dtype, gen, kCL);
    expect_backend_matches_ref(
        Device::cuda(),
        [&](Device d) {
          const Tensor xd = to_device(x, d), dyd = to_device(dy, d);
          Tensor y = Tensor::empty(shape, dtype, d, kCL), dx = Tensor::empty(shape, dtype, d, kCL);
          gelu_forward(xd, y);
          gelu_backward(dyd, xd, dx);
          return Outputs{y, dx};
        },
        dtype == DType::f32 ? 1e-6 : 1e-12, std::string("gelu ") + dtype_name(dtype), {"y", "dx"});
  }
}
