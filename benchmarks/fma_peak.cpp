// bench-fma-peak: the float32 multiply-add peak this machine actually delivers, per thread count, in GFLOP/s
// (one FMA = 2 FLOP). The yardstick for "convolution time as a share of peak" (bench-train-step --profile
// gives the time, this gives the ceiling).
//
// Each thread runs independent chains of vector FMAs on registers only (no memory traffic), enough chains to
// cover the FMA latency on two ports. The compiler's vector width follows -march=native (AVX-512 here).
//
//   bench-fma-peak                 # 1 thread and all threads
//   bench-fma-peak --threads 1 2
#include <CLI/CLI.hpp>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace {

// Explicit FMA intrinsics: the project builds with -ffp-contract=off, so a*b+c would stay two instructions.
#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
inline Vec splat(float v) { return _mm512_set1_ps(v); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
#elif defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
inline Vec splat(float v) { return _mm256_set1_ps(v); }
inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
#else
#error "bench-fma-peak needs FMA (build with -march=native on an x86-64 machine that has it)"
#endif
// (_mm512_reduce_add_ps trips GCC 12's -Wuninitialized inside its own header: sum through memory.)
inline float lane_sum(Vec v) {
  float lanes[kLanes];
  store(lanes, v);
  float s = 0.0f;
  for (float x : lanes) s += x;
  return s;
}
constexpr int kChains = 12;  // independent accumulators: FMA latency 4 x 2 ports, with margin

// Runs `iterations` rounds of kChains FMAs; returns a value the optimiser cannot drop.
float fma_rounds(long iterations) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = splat(0.001f * static_cast<float>(c + 1));
  const Vec mul = splat(0.999999f), add = splat(1e-7f);
  for (long i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c) acc[c] = fma(acc[c], mul, add);
  float sum = 0.0f;
  for (int c = 0; c < kChains; ++c) sum += lane_sum(acc[c]);
  return sum;
}

double measure_gflops(int threads, long iterations) {
  float sink = 0.0f;
  const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
  {
    const float s = fma_rounds(iterations);
#pragma omp atomic
    sink += s;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (sink == 1234.5f) std::printf(" ");  // keeps the sums (and so the FMAs) alive
  const double flops = 2.0 * kLanes * kChains * static_cast<double>(iterations) * threads;
  return flops / seconds / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads;
  int repeats = 5;
  CLI::App app{"float32 FMA peak in GFLOP/s per thread count (registers only)"};
  app.add_option("--threads", threads, "thread counts (default: 1 and all)");
  app.add_option("--repeats", repeats, "measurements per thread count (best reported)")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  if (threads.empty()) {
    threads.push_back(1);
    if (omp_get_max_threads() > 1) threads.push_back(omp_get_max_threads());
  }
  std::printf("%8s %12s %14s\n", "threads", "GFLOP/s", "per thread");
  for (int t : threads) {
    measure_gflops(t, 1 << 20);  // warm-up: clocks and thread team
    double best = 0.0;
    for (int r = 0; r < repeats; ++r) best = std::max(best, measure_gflops(t, 1 << 24));
    std::printf("%8d %12.1f %14.1f\n", t, best, best / t);
    std::printf("{\"threads\": %d, \"fma_peak_gflops\": %.1f}\n", t, best);
  }
  return 0;
}
