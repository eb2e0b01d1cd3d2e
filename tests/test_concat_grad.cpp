// concat_channels' backward hands each input its channel slice of dy as a view (no copy), and the cpu
// add_forward / axpy read such row-strided slices in place. Checked here:
//  - the cpu kernels on channel slices (odd sizes) against the reference backend and a plain loop;
//  - the engine: views of dy are never written (the seed is untouched), shared inputs sum correctly;
//  - concat gradients against finite differences in float64;
//  - GrowingConcat (a concatenation grown in one buffer, DenseNet's blocks) against concat_channels;
//  - a whole DenseNet-40 (width 0.25, 16x16) against the same network with a concatenation that copies
//    every input and whose backward clones every slice (the first implementation): every parameter's
//    gradient agrees.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/functional.h"
#include "autograd/node.h"
#include "backends/kernels.h"
#include "core/init.h"
#include "layers/layers.h"
#include "layers/models/network.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

namespace {

constexpr MemoryFormat kCL = MemoryFormat::channels_last;
constexpr MemoryFormat kRowMajor = MemoryFormat::contiguous;

Generator& gen() {
  static Generator g(20261127);
  return g;
}

Tensor rand(const Shape& shape, MemoryFormat format = kRowMajor, DType dtype = DType::f32) {
  return random_tensor(shape, dtype, gen(), format);
}

// The operands of the kernel tests: dense tensors and channel slices of wider ones (odd sizes).
struct Operand {
  std::string name;
  Tensor t;
};

std::vector<Operand> operands_4d(MemoryFormat format) {
  const int64_t N = 3, H = 5, W = 2;
  std::vector<Operand> ops;
  ops.push_back({"dense", rand({N, 3, H, W}, format)});
  ops.push_back({"slice 2..5 of 7", rand({N, 7, H, W}, format).narrow(1, 2, 3)});
  ops.push_back({"slice 0..3 of 3+2", rand({N, 5, H, W}, format).narrow(1, 0, 3)});
  ops.push_back({"slice 6..9 of 9", rand({N, 9, H, W}, format).narrow(1, 6, 3)});
  // Not a channel slice: a spatial one (W slice), and the other layout (copied by the kernel).
  ops.push_back({"other layout", rand({N, 3, H, W}, format == kCL ? kRowMajor : kCL)});
  ops.push_back({"column slice", rand({N, 3, H, W + 3}, format).narrow(3, 1, W)});
  return ops;
}

std::vector<Operand> operands_2d() {
  std::vector<Operand> ops;
  ops.push_back({"dense", rand({5, 3})});
  ops.push_back({"slice 2..5 of 7", rand({5, 7}).narrow(1, 2, 3)});
  ops.push_back({"slice 4..7 of 7", rand({5, 7}).narrow(1, 4, 3)});
  ops.push_back({"rows 1..6 of 8, slice 1..4 of 6", rand({8, 6}).narrow(0, 1, 5).narrow(1, 1, 3)});
  return ops;
}

// The output / accumulator: dense in `format`, or itself a channel slice of a wider tensor.
Tensor output_like(const Shape& shape, MemoryFormat format, bool slice) {
  if (!slice) return rand(shape, format);
  Shape wide = shape;
  wide[1] += 4;
  return rand(wide, format).narrow(1, 1, shape[1]);
}

std::vector<double> plain_add(const Tensor& a, const Tensor& b) {
  std::vector<double> va = a.to_double_vector(), vb = b.to_double_vector();
  for (size_t i = 0; i < va.size(); ++i) va[i] = static_cast<double>(static_cast<float>(va[i]) + static_cast<float>(vb[i]));
  return va;
}

void check_add_and_axpy(const std::vector<Operand>& ops, MemoryFormat out_format, int* cases) {
  for (const Operand& a : ops) {
    for (const Operand& b : ops) {
      for (bool out_slice : {false, true}) {
        const std::string what = "a " + a.name + ", b " + b.name + (out_slice ? ", output a slice" : ", dense output") +
                                 (out_format == kCL ? " (channels_last)" : " (row-major)");
        // add_forward: the cpu kernel, the reference one, a plain loop.
        Tensor y_cpu = output_like(a.t.shape(), out_format, out_slice);
        add_forward(a.t, b.t, y_cpu);
        Tensor y_ref = output_like(a.t.shape(), out_format, out_slice);
        {
          ReferenceModeGuard guard;
          add_forward(a.t, b.t, y_ref);
        }
        EXPECT_EQ(y_cpu.to_double_vector(), y_ref.to_double_vector()) << "add_forward, " << what;
        EXPECT_EQ(y_cpu.to_double_vector(), plain_add(a.t, b.t)) << "add_forward vs a plain loop, " << what;

        // axpy: acc += alpha x, with acc starting from b's values (copied into the output's layout).
        for (double alpha : {1.0, 0.5}) {
          Tensor acc_cpu = output_like(a.t.shape(), out_format, out_slice);
          Tensor acc_ref = output_like(a.t.shape(), out_format, out_slice);
          acc_cpu.copy_(b.t);
          acc_ref.copy_(b.t);
          axpy(alpha, a.t, acc_cpu);
          {
            ReferenceModeGuard guard;
            axpy(alpha, a.t, acc_ref);
          }
          EXPECT_EQ(acc_cpu.to_double_vector(), acc_ref.to_double_vector()) << "axpy alpha " << alpha << ", " << what;
          std::vector<double> expect = b.t.to_double_vector(), va = a.t.to_double_vector();
          for (size_t i = 0; i < expect.size(); ++i)
            expect[i] = static_cast<float>(static_cast<float>(expect[i]) + static_cast<float>(alpha) * static_cast<float>(va[i]));
          EXPECT_EQ(acc_cpu.to_double_vector(), expect) << "axpy vs a plain loop, alpha " << alpha << ", " << what;
        }
        ++*cases;
      }
    }
  }
}

}  // namespace

TEST(ConcatGrad, CpuAddAndAxpyReadChannelSlicesInPlace4d) {
  int cases = 0;
  for (MemoryFormat f : {kCL, kRowMajor}) check_add_and_axpy(operands_4d(f), f, &cases);
  EXPECT_EQ(cases, 2 * 6 * 6 * 2);
}

TEST(ConcatGrad, CpuAddAndAxpyReadChannelSlicesInPlace2d) {
  int cases = 0;
  check_add_and_axpy(operands_2d(), kRowMajor, &cases);
  EXPECT_EQ(cases, 4 * 4 * 2);
}

TEST(ConcatGrad, AxpyIntoASliceLeavesTheOtherChannelsAlone) {
  Tensor wide = rand({3, 7, 5, 2}, kCL);
  const Tensor before = wide.clone();
  Tensor acc = wide.narrow(1, 2, 3);
  const Tensor x = rand({3, 9, 5, 2}, kCL).narrow(1, 4, 3);
  axpy(1.0, x, acc);
  const std::vector<double> w = wide.to_double_vector(), b = before.to_double_vector(), xv = x.to_double_vector();
  size_t k = 0;
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t c = 0; c < 7; ++c)
      for (int64_t hw = 0; hw < 10; ++hw) {
        const size_t i = static_cast<size_t>((n * 7 + c) * 10 + hw);
        if (c >= 2 && c < 5) {
          const size_t j = static_cast<size_t>((n * 3 + (c - 2)) * 10 + hw);
          EXPECT_EQ(w[i], static_cast<double>(static_cast<float>(b[i]) + static_cast<float>(xv[j])));
          ++k;
        } else {
          EXPECT_EQ(w[i], b[i]) << "channel " << c << " outside the slice changed";
        }
      }
  EXPECT_EQ(k, 3u * 3 * 10);
}

TEST(ConcatGrad, LargeSlicesTakeTheParallelPath) {
  // More than the parallel grain (2^15 elements): rows split across threads when OpenMP has several.
  Tensor a = rand({4, 37, 32, 32}, kCL).narrow(1, 5, 19);
  Tensor b = rand({4, 23, 32, 32}, kCL).narrow(1, 1, 19);
  Tensor y = Tensor::empty_activation(a.shape());
  add_forward(a, b, y);
  EXPECT_EQ(y.to_double_vector(), plain_add(a, b));
  Tensor acc = b.clone();
  axpy(1.0, a, acc);
  EXPECT_EQ(acc.to_double_vector(), plain_add(b, a));
}

// ---------------------------------------------------------------- the engine with views of dy

TEST(ConcatGrad, SharedInputsSumSlicesAndTheSeedIsUntouched) {
  for (DType dtype : {DType::f32, DType::f64}) {
    Variable a(rand({2, 3, 4, 5}, kCL, dtype), true), b(rand({2, 2, 4, 5}, kCL, dtype), true);
    // a reaches y three times (twice directly, once through the inner concat), b twice.
    Variable inner = concat_channels({a, b});
    Variable y = concat_channels({a, inner, b, a});
    const Tensor seed = rand(y.data().shape(), kCL, dtype);
    const std::vector<double> seed_before = seed.to_double_vector();
    y.backward(seed);
    EXPECT_EQ(seed.to_double_vector(), seed_before) << "backward wrote into the seed";
    auto slice = [&](int64_t start, int64_t c) { return seed.narrow(1, start, c); };
    // y's channels: a [0,3), inner = a [3,6) b [6,8), b [8,10), a [10,13)
    std::vector<double> ga = slice(0, 3).to_double_vector(), g1 = slice(3, 3).to_double_vector(),
                        g2 = slice(10, 3).to_double_vector();
    std::vector<double> gb = slice(6, 2).to_double_vector(), h1 = slice(8, 2).to_double_vector();
    for (size_t i = 0; i < ga.size(); ++i) ga[i] += g1[i] + g2[i];
    for (size_t i = 0; i < gb.size(); ++i) gb[i] += h1[i];
    const double tol = dtype == DType::f32 ? 1e-6 : 1e-15;
    EXPECT_LT(max_rel_error(a.grad(), tensor_from_values(ga, a.data().shape())), tol) << dtype_name(dtype);
    EXPECT_LT(max_rel_error(b.grad(), tensor_from_values(gb, b.data().shape())), tol) << dtype_name(dtype);
  }
}

TEST(ConcatGrad, TwoDimensionalConcatGradients) {
  Variable a(rand({4, 3}), true), b(rand({4, 5}), true);
  Variable y = concat_channels({b, a, b});
  const Tensor seed = rand({4, 13});
  y.backward(seed);
  std::vector<double> gb = seed.narrow(1, 0, 5).to_double_vector(), g2 = seed.narrow(1, 8, 5).to_double_vector();
  for (size_t i = 0; i < gb.size(); ++i) gb[i] += g2[i];
  EXPECT_LT(max_rel_error(a.grad(), seed.narrow(1, 5, 3)), 1e-7);
  EXPECT_LT(max_rel_error(b.grad(), tensor_from_values(gb, {4, 5})), 1e-6);
}

TEST(ConcatGrad, FiniteDifferencesInFloat64) {
  // h = relu(concat(x1, x2)); z = concat(h, x1, x2, x1); loss = <z, w>. x1 reaches z three times, once
  // through relu's backward of a view of dy.
  const Tensor x1 = random_tensor_away_from_zero({2, 2, 3, 3}, DType::f64, gen(), kCL);
  const Tensor x2 = random_tensor_away_from_zero({2, 3, 3, 3}, DType::f64, gen(), kCL);
  const Tensor w = rand({2, 12, 3, 3}, kCL, DType::f64);
  auto forward = [&](const Variable& v1, const Variable& v2) {
    Variable h = relu(concat_channels({v1, v2}));
    return concat_channels({h, v1, v2, v1});
  };
  Variable v1(x1, true), v2(x2, true);
  forward(v1, v2).backward(w);
  auto loss = [&] {
    NoGradGuard no_grad;
    return dot(forward(Variable(x1), Variable(x2)).data(), w);
  };
  expect_gradient_matches(loss, x1, v1.grad(), 1e-8, "d loss / d x1");
  expect_gradient_matches(loss, x2, v2.grad(), 1e-8, "d loss / d x2");
}

// ---------------------------------------------------------------- GrowingConcat

// Three inputs grown into one buffer: each concatenation so far is a view of the buffer (no copy), with
// concat_channels' values, and gradients through the partial and the full concatenations are those of
// concat_channels.
TEST(ConcatGrad, GrowingConcatEqualsConcatChannels) {
  for (const Shape& base : {Shape{3, 1, 4, 5}, Shape{4, 1}}) {
    SCOPED_TRACE(shape_str(base));
    const MemoryFormat format = base.size() == 4 ? kCL : kRowMajor;
    auto with_channels = [&](int64_t c) {
      Shape s = base;
      s[1] = c;
      return s;
    };
    const Tensor ta = rand(with_channels(2), format), tb = rand(with_channels(3), format),
                 tc = rand(with_channels(4), format);
    const Tensor seed_partial = rand(with_channels(5), format), seed_full = rand(with_channels(9), format);
    auto grads = [&](bool growing) {
      Variable a(ta, true), b(tb, true), c(tc, true);
      Variable partial, full;
      if (growing) {
        GrowingConcat concat(with_channels(9), DType::f32, Device::cpu());
        concat.append(a);
        concat.append(b);
        partial = concat.concatenation();
        concat.append(relu(c));
        full = concat.concatenation();
        EXPECT_EQ(partial.data().storage(), full.data().storage()) << "the partial concatenation is a view";
        EXPECT_EQ(concat.channels(), 9);
      } else {
        partial = concat_channels({a, b});
        full = concat_channels({a, b, relu(c)});
      }
      partial.backward(seed_partial);
      full.backward(seed_full);
      return std::vector<Tensor>{partial.data().clone(), full.data().clone(), a.grad(), b.grad(), c.grad()};
    };
    const std::vector<Tensor> growing = grads(true), copied = grads(false);
    const char* names[] = {"partial", "full", "da", "db", "dc"};
    for (size_t i = 0; i < growing.size(); ++i) expect_close(growing[i], copied[i], 0, 0, names[i]);
  }
}

// As a DenseNet block uses it: each concatenation feeds an op whose output is appended, and a gradient
// comes into every concatenation. The graph chains them (a concatenation's node has the previous concatenation and the
// inputs appended since as its inputs; asked twice, the same Variable), and the gradients are those of
// concat_channels of all inputs at every step.
TEST(ConcatGrad, GrowingConcatChainsItsConcatenations) {
  const Tensor tx = rand({2, 3, 4, 5}, kCL);
  const Tensor seeds[] = {rand({2, 3, 4, 5}, kCL), rand({2, 6, 4, 5}, kCL), rand({2, 12, 4, 5}, kCL)};
  auto grad_of_x = [&](bool growing) {
    Variable x(tx, true);
    std::vector<Variable> concatenations;
    if (growing) {
      GrowingConcat concat({2, 12, 4, 5}, DType::f32, Device::cpu());
      concat.append(x);
      for (int layer = 0; layer < 3; ++layer) {
        concatenations.push_back(concat.concatenation());
        if (layer < 2) concat.append(mul_scalar(relu(concatenations.back()), 0.5 + layer));
      }
      EXPECT_EQ(concat.concatenation().grad_fn(), concatenations.back().grad_fn()) << "asked twice: the same";
      EXPECT_EQ(concatenations[2].grad_fn()->next.size(), 2u) << "the previous concatenation and one input";
      EXPECT_EQ(concatenations[2].grad_fn()->next[0].node, concatenations[1].grad_fn());
    } else {
      std::vector<Variable> inputs{x};
      for (int layer = 0; layer < 3; ++layer) {
        concatenations.push_back(concat_channels(inputs));
        if (layer < 2) inputs.push_back(mul_scalar(relu(concatenations.back()), 0.5 + layer));
      }
    }
    for (int i = 2; i >= 0; --i) concatenations[i].backward(seeds[i], /*retain_graph=*/true);
    return x.grad();
  };
  expect_close(grad_of_x(true), grad_of_x(false), 1e-6, 1e-6, "dx");
}

TEST(ConcatGrad, GrowingConcatRejectsWhatDoesNotFit) {
  GrowingConcat concat({2, 5, 3, 3}, DType::f32, Device::cpu());
  concat.append(Variable(rand({2, 3, 3, 3}, kCL)));
  try {
    concat.append(Variable(rand({2, 3, 3, 3}, kCL)));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not fit"), std::string::npos) << e.what();
  }
  try {
    concat.append(Variable(rand({2, 1, 3, 4}, kCL)));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("outside dim 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(GrowingConcat({2, 5}, DType::f32, Device::cpu()).concatenation(), Error);
}

// ---------------------------------------------------------------- DenseNet-40 against cloned slices

namespace {

// The previous concat_channels backward: every slice copied into a dense tensor.
struct CloningConcatNode final : Node {
  std::vector<int64_t> channels;
  const char* name() const override { return "concat_channels_cloning"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(channels.size());
    int64_t start = 0;
    for (size_t i = 0; i < channels.size(); ++i) {
      if (needs_input_grad(i)) g[i] = dy.narrow(1, start, channels[i]).clone();
      start += channels[i];
    }
    return g;
  }
};

Variable cloning_concat(const std::vector<Variable>& xs) {
  Tensor y;
  {
    NoGradGuard no_grad;
    y = concat_channels(xs).data();
  }
  auto node = std::make_shared<CloningConcatNode>();
  for (const auto& v : xs) node->channels.push_back(v.data().size(1));
  return attach_node(std::move(y), xs, std::move(node));
}

Module& child(const Module& m, const std::string& name) {
  for (const auto& [n, c] : m.children())
    if (n == name) return *c;
  ADD_FAILURE() << "no child " << name;
  throw Error("no child " + name);
}

// DenseNet::forward with every DenseBlock's concatenations done by cloning_concat.
Variable densenet_forward_with_cloning_concat(Module& net, const Variable& x) {
  Module& features = child(net, "features");
  const auto& mods = features.children();
  Variable h = x;
  for (size_t i = 0; i < mods.size(); ++i) {
    Module& m = *mods[i].second;
    if (m.type_name() == "DenseBlock") {
      std::vector<Variable> feats{h};
      for (auto& [name, layer] : m.children()) feats.push_back((*layer)(cloning_concat(feats)));
      h = cloning_concat(feats);
    } else {  // a ReLU after a BatchNormReLU recomputes max(0, h) = h: the same values
      h = m(h);
    }
  }
  return child(net, "classifier")(global_avg_pool(h));
}

}  // namespace

TEST(ConcatGrad, DenseNet40GradientsEqualThoseOfClonedSlices) {
  Generator g(3);
  ModelConfig c{"densenet", 40, 0.25, 3, 16, 10};
  NetworkPtr net = build_model(c, g);
  Tensor x = Tensor::empty({2, 3, 16, 16}, DType::f32, Device::cpu(), kCL);
  normal_(x, 0, 1, g);
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{3, 7}, {2});

  net->zero_grad();
  const Variable loss_views = cross_entropy((*net)(Variable(x)), labels);
  loss_views.backward();
  std::vector<std::pair<std::string, Tensor>> views;
  for (auto& [name, p] : net->named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    views.emplace_back(name, p.grad().clone());
  }

  net->zero_grad();
  const Variable loss_clones = cross_entropy(densenet_forward_with_cloning_concat(*net, Variable(x)), labels);
  // Along the chain of concatenations each gradient is summed once, in another order: other rounding.
  EXPECT_NEAR(loss_views.data().item(), loss_clones.data().item(), 1e-6 * std::abs(loss_clones.data().item()));
  loss_clones.backward();
  size_t compared = 0;
  double worst = 0;
  for (auto& [name, p] : net->named_parameters()) {
    ASSERT_LT(compared, views.size());
    ASSERT_EQ(views[compared].first, name);
    ASSERT_TRUE(p.grad().defined()) << name;
    const double err = max_rel_error(views[compared].second, p.grad());
    worst = std::max(worst, err);
    EXPECT_LT(err, 1e-5) << name;
    ++compared;
  }
  EXPECT_EQ(compared, views.size());
  EXPECT_GT(compared, 100u);  // 39 conv + 37 batch norms x 2 + classifier
  RecordProperty("max_rel_error", std::to_string(worst));
}
