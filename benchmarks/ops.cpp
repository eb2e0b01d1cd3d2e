// Convolution throughput of the cpu backend on the conv shapes of a CIFAR ResNet18 (batch 128): forward,
// backward-data and backward-weights, median of several timed runs after warm-up, in ms and GFLOP/s; then
// the same op through the reference backend on one small shape, to show what the fast path buys.
//
// The weights keep one version across the timed runs, so their reorder into oneDNN's format happens in
// warm-up (in training it happens once per optimizer step per format, see backends/cpu/onednn_common.h).
//
// Usage: bench-ops [timed runs, default 5]. Run with OMP_NUM_THREADS set to the cores you want to measure.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "backends/cpu/conv2d_winograd.h"
#include "backends/cpu/onednn_common.h"
#include "backends/kernels.h"
#include "core/init.h"
#include "core/rng.h"

using namespace collapse;

namespace {

struct ConvShape {
  const char* name;
  int64_t n, ci, h, co, k, stride, pad;
  int64_t out() const { return conv_out_size(h, k, stride, pad); }
  // Multiply-adds of one pass, times two; the same for all three passes.
  double flops() const { return 2.0 * n * co * out() * out() * ci * k * k; }
};

// oneDNN primitives created during timed runs, over all calls (the cache must make it 0).
size_t g_created_while_timing = 0;

double median_ms(const std::function<void()>& fn, int warmup, int runs) {
  for (int i = 0; i < warmup; ++i) fn();
  const size_t created = cpu_primitive_creations();
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    fn();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  g_created_while_timing += cpu_primitive_creations() - created;
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

Tensor random_activation(const Shape& shape, Generator& gen) {
  Tensor t = Tensor::empty_activation(shape);
  normal_(t, 0.0, 1.0, gen);
  return t;
}

// Times the three passes of `s` on whichever backend the dispatch picks and prints one table row.
void bench_conv(const ConvShape& s, int warmup, int runs, const char* note = "") {
  Generator gen(1);
  const Conv2dParams p{s.stride, s.pad};
  const Tensor x = random_activation({s.n, s.ci, s.h, s.h}, gen), dy = random_activation({s.n, s.co, s.out(), s.out()}, gen);
  Tensor w = Tensor::empty({s.co, s.ci, s.k, s.k});
  kaiming_normal_fan_out(w, gen);
  Tensor y = Tensor::empty_activation(dy.shape()), dx = Tensor::empty_activation(x.shape()), dw = Tensor::empty(w.shape());
  Tensor no_bias;
  const double fwd = median_ms([&] { conv2d_forward(x, w, no_bias, p, y); }, warmup, runs);
  const double bwd_data = median_ms([&] { conv2d_backward_data(dy, w, p, dx); }, warmup, runs);
  const double bwd_weights = median_ms([&] { conv2d_backward_weights(x, dy, p, dw, no_bias); }, warmup, runs);
  auto gflops = [&](double ms) { return s.flops() / (ms * 1e6); };
  std::printf("%-24s %5lld %4lld->%-4lld %3lldx%-3lld k%lld s%lld | %8.2f %7.2f | %8.2f %7.2f | %8.2f %7.2f %s\n", s.name,
              static_cast<long long>(s.n), static_cast<long long>(s.ci), static_cast<long long>(s.co),
              static_cast<long long>(s.h), static_cast<long long>(s.h), static_cast<long long>(s.k),
              static_cast<long long>(s.stride), fwd, gflops(fwd), bwd_data, gflops(bwd_data), bwd_weights,
              gflops(bwd_weights), note);
  std::fflush(stdout);
}

void print_header(const char* title) {
  std::printf("\n%s\n", title);
  std::printf("%-24s %5s %10s %7s %4s %2s | %8s %7s | %8s %7s | %8s %7s\n", "layer", "batch", "channels", "size", "k", "s",
              "fwd ms", "GFLOP/s", "bwd-d ms", "GFLOP/s", "bwd-w ms", "GFLOP/s");
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::max(1, std::atoi(argv[1])) : 5;
  std::printf("collapse bench-ops: %d OpenMP threads, median of %d runs after 2 warm-up runs\n", omp_get_max_threads(),
              runs);

  const std::vector<ConvShape> resnet18 = {
      {"conv1 (stem)", 128, 3, 32, 64, 3, 1, 1},
      {"layer1 3x3", 128, 64, 32, 64, 3, 1, 1},
      {"layer2.0 3x3 down", 128, 64, 32, 128, 3, 2, 1},
      {"layer2.0 shortcut 1x1", 128, 64, 32, 128, 1, 2, 0},
      {"layer2 3x3", 128, 128, 16, 128, 3, 1, 1},
      {"layer3.0 3x3 down", 128, 128, 16, 256, 3, 2, 1},
      {"layer3.0 shortcut 1x1", 128, 128, 16, 256, 1, 2, 0},
      {"layer3 3x3", 128, 256, 8, 256, 3, 1, 1},
      {"layer4.0 3x3 down", 128, 256, 8, 512, 3, 2, 1},
      {"layer4.0 shortcut 1x1", 128, 256, 8, 512, 1, 2, 0},
      {"layer4 3x3", 128, 512, 4, 512, 3, 1, 1},
  };
  print_header("cpu backend (oneDNN), CIFAR ResNet18 convolutions; GFLOP/s counts a direct convolution's "
               "multiply-adds, so Winograd rows show an effective rate");
  const size_t creations = cpu_primitive_creations();
  for (const ConvShape& s : resnet18) {
    const Shape x{s.n, s.ci, s.h, s.h}, w{s.co, s.ci, s.k, s.k}, y{s.n, s.co, s.out(), s.out()};
    std::string note = cpu::conv_as_winograd(x, w, y, Conv2dParams{s.stride, s.pad}) ? "winograd" : "direct";
    if (s.ci == 3) note += " (bwd-d unused in training)";
    bench_conv(s, 2, runs, note.c_str());
  }
  std::printf("oneDNN primitives created: %zu in warm-up (convolutions and reorders), %zu during timed runs\n",
              cpu_primitive_creations() - creations - g_created_while_timing, g_created_while_timing);

  const ConvShape small{"small 3x3", 4, 32, 16, 32, 3, 1, 1};
  print_header("the same op, small shape: cpu backend vs reference backend");
  bench_conv(small, 2, runs, "cpu");
  {
    ReferenceModeGuard guard;
    bench_conv(small, 0, 3, "ref");  // plain loops: nothing to warm up
  }
  return 0;
}
