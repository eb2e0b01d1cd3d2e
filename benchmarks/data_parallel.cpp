// bench-data-parallel: the data-parallel training step, run as `mpirun -np K bench-data-parallel ...` (or
// alone: K = 1). Every rank builds the same model and a fixed random slice of a global batch (rows
// ⌊r·B/K⌋..⌊(r+1)·B/K⌋, as the sharded DataLoader gives), then alternates rounds of timed steps with the
// gradient all-reduce overlapped with backward and without overlap (every bucket starts after backward),
// in the same invocation. A step is what the Trainer does: forward, loss, its scalar all-reduce, backward
// with the loss share as seed, gradient summation, SGD update.
//
// Rank 0 prints per mode the median step time, the global images per second and the median time finish()
// waited for all-reduces that backward did not hide (its share of the step), and one JSON line per mode.
//
//   mpirun -np 2 build/bench-data-parallel --threads 1       # 2 ranks x 1 thread
//   build/bench-data-parallel --threads 2                    # 1 rank x 2 threads, the peer
//   benchmarks/data_parallel.sh                              # both, alternating, 3 rounds
#include <CLI/CLI.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "autograd/functional.h"
#include "core/init.h"
#include "core/openmp_policy.h"
#include "core/rng.h"
#include "data/data_loader.h"
#include "layers/layers.h"
#include "layers/models/network.h"
#include "train/data_parallel.h"

using namespace collapse;
using Clock = std::chrono::steady_clock;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  adopt_openmp_wait_policy(argv);
  auto world = distributed::connect_world(argc, argv);
  CLI::App app{"bench-data-parallel: data-parallel step time (run under mpirun -np K)"};
  std::string arch = "resnet";
  int depth = 18, threads = 0, steps = 10, warmup = 3, rounds = 2;
  double width = 0.25;
  int64_t batch = 128;
  bool sync_bn = false;
  app.add_option("--arch", arch)->capture_default_str();
  app.add_option("--depth", depth)->capture_default_str();
  app.add_option("--width", width)->capture_default_str();
  app.add_option("--batch-size", batch, "global batch")->capture_default_str();
  app.add_option("--threads", threads, "OpenMP threads per rank (0: default)")->capture_default_str();
  app.add_option("--steps", steps, "timed steps per mode and round")->capture_default_str();
  app.add_option("--warmup", warmup)->capture_default_str();
  app.add_option("--rounds", rounds, "rounds of (overlap, no overlap)")->capture_default_str();
  app.add_flag("--sync-bn", sync_bn, "synchronised batch norm");
  CLI11_PARSE(app, argc, argv);
  use_openmp_threads(threads);
  const int K = world->size(), rank = world->rank();

  Generator gen(1);
  NetworkPtr model = build_model({arch, depth, width, 3, 32, 10}, gen);
  if (sync_bn && K > 1) synchronize_batch_norm(*model, distributed::replica_sum(*world));
  const auto [first, last] = shard_rows(batch, rank, K);
  const int64_t rows = last - first;
  Generator data_gen(2 + static_cast<uint64_t>(rank));
  Tensor images = Tensor::empty_activation({rows, 3, 32, 32});
  uniform_(images, 1.0, data_gen);
  std::vector<int64_t> labels(static_cast<size_t>(rows));
  for (auto& y : labels) y = static_cast<int64_t>(data_gen.below(10));
  const Tensor targets = Tensor::from_vector(labels, {rows});
  SGD sgd(model->parameters(), {0.01, 0.9, 5e-4, false});
  const double share = static_cast<double>(rows) / static_cast<double>(batch);

  struct Mode {
    const char* name;
    bool overlap;
    std::vector<double> step_ms, wait_ms;
  };
  std::vector<Mode> modes = {{"overlap", true, {}, {}}, {"no-overlap", false, {}, {}}};
  for (int round = 0; round < rounds; ++round)
    for (Mode& mode : modes) {
      GradientSynchronizer sync(model->parameters(), *world, {.overlap = mode.overlap});
      for (int s = 0; s < warmup + steps; ++s) {
        if (s == warmup) world->barrier();
        const auto t0 = Clock::now();
        const double waited_before = sync.wait_seconds();
        sgd.zero_grad();
        Variable loss = cross_entropy((*model)(Variable(images)), targets);
        double scalars[3] = {loss.data().item() * share, 0, 0};
        world->all_reduce_sum(scalars, 3);
        sync.begin_step();
        loss.backward(Tensor::full(loss.data().shape(), share));
        sync.finish();
        sgd.step();
        if (s >= warmup) {
          mode.step_ms.push_back(1e3 * std::chrono::duration<double>(Clock::now() - t0).count());
          mode.wait_ms.push_back(1e3 * (sync.wait_seconds() - waited_before));
        }
      }
    }
  if (rank == 0) {
    std::printf("%s%d width %g, global batch %lld, %d rank(s) x %d thread(s)%s, %d steps x %d rounds per mode\n",
                arch.c_str(), depth, width, static_cast<long long>(batch), K, omp_get_max_threads(),
                sync_bn ? ", sync-bn" : "", steps, rounds);
    for (const Mode& m : modes) {
      const double step = median(m.step_ms), wait = median(m.wait_ms);
      std::printf("  %-10s  step %7.1f ms  %7.0f img/s  all-reduce wait %6.1f ms (%4.1f%%)\n", m.name, step,
                  1e3 * static_cast<double>(batch) / step, wait, 100.0 * wait / step);
      std::printf("{\"ranks\": %d, \"threads\": %d, \"mode\": \"%s\", \"step_ms\": %.3f, \"img_s\": %.1f, "
                  "\"wait_ms\": %.3f}\n",
                  K, omp_get_max_threads(), m.name, step, 1e3 * static_cast<double>(batch) / step, wait);
    }
  }
  return 0;
}
