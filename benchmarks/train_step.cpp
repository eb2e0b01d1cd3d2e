// bench-train-step: throughput of one full SGD training step, in images per second.
//
// One step is what the trainer does per batch: zero_grad, forward, cross-entropy, backward, SGD update
// (momentum 0.9, weight decay 5e-4, PyTorch semantics). Each row (architecture x width x input x
// threads) runs `--warmup` steps, then `--steps` timed steps on one fixed random batch; the reported rate
// is batch / median step time. The row also reports:
//   - peak resident memory of the process that ran the row (getrusage ru_maxrss; each row runs in a
//     forked child by default, so rows do not inherit each other's peak),
//   - the CPU allocator's real allocations and the oneDNN primitives created during the timed steps
//     (a steady-state step must add neither: the caching allocator and the primitive cache),
//   - on CUDA, the CUDA caching allocator's cudaMalloc calls during the timed steps,
//   - a breakdown of the median step into forward (with zero_grad and the loss), backward and optimizer time.
//
// Inputs: 3x32x32 (CIFAR) and 1x28x28 (MNIST-like). The protocol pads 28x28 images to 32x32 before the
// network sees them, so the 1x28x28 rows run the network on 1x32x32 batches (the label says what the
// dataset is; the shape the network runs is 1x32x32).
//
// Output: a table, and one JSON line per row (keys arch, input, width, threads, batch, ours_img_s,
// peak_rss_mb, allocs_per_step, primitives_created, plus params, device and the time breakdown), which
// benchmarks/compare_pytorch.py parses.
//
//   bench-train-step                                   # VGG11, ResNet18, DenseNet40 x width 0.25, 1 x both inputs
//   bench-train-step --arch resnet18 --width 0.25 --input 3x32x32 --threads 1 --steps 20
//   bench-train-step --print-params                   # parameter counts only (JSON lines), no training
//   bench-train-step --profile ...                    # after the timed steps, as many profiled steps: time
//                                                     # per op type and per layer (core/profiler.h)
#include <CLI/CLI.hpp>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "autograd/functional.h"
#include "backends/arithmetic_settings.h"
#include "backends/cpu/onednn_common.h"
#include "backends/device_query.h"
#include "core/busy_cores.h"
#include "core/busy_cpu_watch.h"
#include "core/init.h"
#include "core/openmp_policy.h"
#include "core/profiler.h"
#include "core/rng.h"
#include "core/storage.h"
#include "layers/models/network.h"
#include "optim/sgd.h"

using namespace collapse;

namespace {

struct Options {
  std::vector<std::string> archs{"vgg11", "resnet18", "densenet40"};
  std::vector<double> widths{0.25, 1.0};
  std::vector<std::string> inputs{"3x32x32", "1x28x28"};
  std::vector<int> threads;  // empty: OpenMP's default
  int64_t batch = 128;
  int64_t classes = 10;
  int steps = 10;
  int warmup = 8;  // the best-fit allocator settles into its steady state within a few steps
  std::string device = "cpu";
  uint64_t seed = 1;
  bool print_params = false;
  bool profile = false;
  bool no_fork = false;
  bool json_only = false;
  int busy_cores = 0;  // spinners in other sessions during each row (a busy machine)
};

struct Arch {
  std::string name;    // as given: "resnet18"
  std::string family;  // registry name: "resnet"
  int depth;
};

Arch parse_arch(const std::string& s) {
  // The depth is the trailing run of digits: "resnet18" -> resnet, 18; "resnet-se18" -> resnet-se, 18.
  size_t i = s.size();
  while (i > 0 && std::isdigit(static_cast<unsigned char>(s[i - 1]))) --i;
  COLLAPSE_CHECK(i > 0 && i < s.size(), "--arch '", s,
                 "': expected a family followed by a depth, e.g. vgg11, resnet18, densenet40");
  const std::string family = s.substr(0, i);
  const auto names = registered_models();
  COLLAPSE_CHECK(std::find(names.begin(), names.end(), family) != names.end(), "--arch '", s, "': unknown family '",
                 family, "' (registered: ", [&] {
                   std::string all;
                   for (auto& n : names) all += (all.empty() ? "" : ", ") + n;
                   return all;
                 }(), ")");
  return {s, family, std::stoi(s.substr(i))};
}

struct Input {
  std::string label;  // as the user names it: "1x28x28"
  int64_t channels;
  int64_t size;  // the side the network runs on (28 is padded to 32, as the protocol does)
  int64_t dataset_size;
};

Input parse_input(const std::string& s) {
  int c = 0, h = 0, w = 0;
  char tail = 0;
  COLLAPSE_CHECK(std::sscanf(s.c_str(), "%dx%dx%d%c", &c, &h, &w, &tail) == 3 && c > 0 && h > 0 && h == w,
                 "--input '", s, "': expected CxHxW with square images, e.g. 3x32x32 or 1x28x28");
  return {s, c, h == 28 ? 32 : h, h};
}

ModelConfig model_config(const Arch& a, double width, const Input& in, int64_t classes) {
  ModelConfig c;
  c.arch = a.family;
  c.depth = a.depth;
  c.width = width;
  c.in_channels = in.channels;
  c.image_size = in.size;
  c.num_classes = classes;
  return c;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Resident memory now (/proc/self/statm), to separate the libraries' share of the peak from the step's.
double current_rss_mb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

std::string width_str(double w) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", w);
  return buf;
}

void print_header(bool cuda) {
  std::printf("%-11s %-8s %5s %3s %5s %10s | %8s %8s %8s %8s | %8s %9s %6s %5s%s\n", "arch", "input", "width", "thr",
              "batch", "params", "step ms", "fwd+loss", "bwd", "sgd", "img/s", "peak MB", "allocs", "prims",
              cuda ? " cudaMalloc" : "");
  std::fflush(stdout);
}

// Runs one row and prints its table line and JSON line.
void run_row(const Options& o, const Arch& arch, double width, const Input& in, int threads) {
  const int used_threads = use_openmp_threads(threads);
  const Device device = Device::parse(o.device);
  COLLAPSE_CHECK(device.is_cpu() || cuda_device_available(), "--device ", o.device,
                 ": no CUDA device answers (or this build has no CUDA backend)");

  const double rss_before_model = current_rss_mb();
  Generator gen(o.seed);
  NetworkPtr model = build_model(model_config(arch, width, in, o.classes), gen);
  model->train();
  const int64_t params = model->parameter_count();
  if (!device.is_cpu()) model->to(device);
  SGD opt(model->parameters(), {.lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4});

  // One fixed batch: standard-normal images (what normalised data looks like) and uniform labels.
  Tensor images = Tensor::empty_activation({o.batch, in.channels, in.size, in.size});
  normal_(images, 0.0, 1.0, gen);
  std::vector<int64_t> label_values(static_cast<size_t>(o.batch));
  for (auto& l : label_values) l = static_cast<int64_t>(gen.below(static_cast<uint64_t>(o.classes)));
  Tensor labels = Tensor::from_vector(label_values, {o.batch});
  if (!device.is_cpu()) {
    images = images.to(device);
    labels = labels.to(device);
  }
  const Variable x(images);

  struct Times {
    double fwd, bwd, sgd, total;
  };
  auto step = [&]() -> Times {
    const auto t0 = std::chrono::steady_clock::now();
    opt.zero_grad();
    Variable loss = cross_entropy((*model)(x), labels);
    if (!device.is_cpu()) cuda_synchronize();
    const double fwd = ms_since(t0);
    const auto t1 = std::chrono::steady_clock::now();
    loss.backward();
    if (!device.is_cpu()) cuda_synchronize();
    const double bwd = ms_since(t1);
    const auto t2 = std::chrono::steady_clock::now();
    opt.step();
    if (!device.is_cpu()) cuda_synchronize();
    const double sgd = ms_since(t2);
    return {fwd, bwd, sgd, ms_since(t0)};
  };

  for (int i = 0; i < o.warmup; ++i) step();
  if (!device.is_cpu()) cuda_synchronize();

  cpu_reset_peak_live_bytes();
  const size_t allocs0 = cpu_allocation_count(), prims0 = cpu_primitive_creations();
  const size_t cuda_mallocs0 = cuda_memory_stats().malloc_calls;
  std::vector<double> fwd, bwd, sgd, total;
  for (int i = 0; i < o.steps; ++i) {
    const Times t = step();
    fwd.push_back(t.fwd);
    bwd.push_back(t.bwd);
    sgd.push_back(t.sgd);
    total.push_back(t.total);
  }
  const double allocs = static_cast<double>(cpu_allocation_count() - allocs0) / o.steps;
  const size_t prims = cpu_primitive_creations() - prims0;
  const size_t cuda_mallocs = cuda_memory_stats().malloc_calls - cuda_mallocs0;
  const double step_ms = median(total);
  const double img_s = static_cast<double>(o.batch) / (step_ms / 1000.0);
  const double rss = peak_rss_mb();
  const double live_mb = static_cast<double>(cpu_peak_live_bytes()) / (1024.0 * 1024.0);

  if (!o.json_only) {
    std::printf("%-11s %-8s %5s %3d %5lld %10lld | %8.2f %8.2f %8.2f %8.2f | %8.1f %9.1f %6.2f %5zu", arch.name.c_str(),
                in.label.c_str(), width_str(width).c_str(), used_threads, static_cast<long long>(o.batch),
                static_cast<long long>(params), step_ms, median(fwd), median(bwd), median(sgd), img_s, rss, allocs,
                prims);
    if (!device.is_cpu()) std::printf(" %10zu", cuda_mallocs);
    std::printf("\n");
  }
  std::printf(
      "{\"arch\": \"%s\", \"input\": \"%s\", \"network_input\": \"%lldx%lldx%lld\", \"width\": %s, \"threads\": %d, "
      "\"batch\": %lld, \"device\": \"%s\", \"params\": %lld, \"ours_img_s\": %.2f, \"step_ms\": %.3f, "
      "\"fwd_loss_ms\": %.3f, \"bwd_ms\": %.3f, \"sgd_ms\": %.3f, \"peak_rss_mb\": %.1f, \"allocs_per_step\": %.3f, "
      "\"primitives_created\": %zu, \"cuda_mallocs\": %zu, \"steps\": %d, \"warmup\": %d, "
      "\"rss_before_model_mb\": %.1f, \"peak_live_tensor_mb\": %.1f, \"busy_cores\": %d, \"omp_wait_policy\": \"%s\", "
      "\"short_waits_s\": %.1f}\n",
      arch.name.c_str(), in.label.c_str(), static_cast<long long>(in.channels), static_cast<long long>(in.size),
      static_cast<long long>(in.size), width_str(width).c_str(), used_threads, static_cast<long long>(o.batch),
      device.str().c_str(), static_cast<long long>(params), img_s, step_ms, median(fwd), median(bwd), median(sgd), rss,
      allocs, prims, cuda_mallocs, o.steps, o.warmup, rss_before_model, live_mb, o.busy_cores,
      openmp_wait_policy().c_str(), busy_cpu_watch_stats().seconds_engaged);
  std::fflush(stdout);

  if (o.profile) {
    // Separate steps, so that the timer calls never touch the figures above.
    profile::reset();
    profile::enable(true);
    std::vector<double> profiled;
    for (int i = 0; i < o.steps; ++i) profiled.push_back(step().total);
    profile::enable(false);
    std::printf("%s width %s %s, %d threads: ", arch.name.c_str(), width_str(width).c_str(), in.label.c_str(),
                used_threads);
    double sum = 0.0;
    for (double ms : profiled) sum += ms;
    profile::print_report(stdout, profile::snapshot(), o.steps, sum / o.steps);
  }
}

// Runs a row in a forked child so that its peak RSS, allocator cache and primitive cache are its own.
// Returns false when the child failed (its error is already printed).
bool run_row_isolated(const Options& o, const Arch& arch, double width, const Input& in, int threads) {
  if (o.no_fork) {
    run_row(o, arch, width, in, threads);
    return true;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  COLLAPSE_CHECK(pid >= 0, "bench-train-step: fork failed");
  if (pid == 0) {
    int rc = 0;
    try {
      run_row(o, arch, width, in, threads);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench-train-step: %s %s width %s: %s\n", arch.name.c_str(), in.label.c_str(),
                   width_str(width).c_str(), e.what());
      rc = 1;
    }
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(rc);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  adopt_openmp_wait_policy(argv);  // the same waiting policy as nc-experiment (core/openmp_policy.h)
  Options o;
  CLI::App app{"Images/s of one full SGD training step (zero_grad, forward, cross-entropy, backward, update)"};
  app.add_option("--arch", o.archs, "architectures: family + depth (vgg11, resnet18, densenet40, ...)")
      ->capture_default_str();
  app.add_option("--width", o.widths, "channel width multipliers")->capture_default_str();
  app.add_option("--input", o.inputs, "input shapes CxHxW; 1x28x28 runs as 1x32x32 (padded, as the protocol)")
      ->capture_default_str();
  app.add_option("--threads", o.threads, "OpenMP thread counts (default: OpenMP's default)");
  app.add_option("--batch", o.batch, "batch size")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--classes", o.classes, "number of classes")->capture_default_str()->check(CLI::Range(2, 1 << 20));
  app.add_option("--steps", o.steps, "timed steps per row (median reported)")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "untimed steps first")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--device", o.device, "cpu or cuda[:i]")->capture_default_str();
  app.add_option("--seed", o.seed, "seed of the weights and the batch")->capture_default_str();
  app.add_flag("--print-params", o.print_params, "print each row's parameter count (JSON lines) and exit");
  app.add_flag("--profile", o.profile, "then run as many profiled steps and print time per op type and per layer");
  app.add_flag("--no-fork", o.no_fork, "run every row in this process (peak RSS then accumulates over rows)");
  app.add_flag("--json-only", o.json_only, "print only the JSON lines");
  app.add_option("--busy-cores", o.busy_cores, "run each row while K single-threaded spinners, each in a session of "
                 "its own, take K cores (a busy machine)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    std::vector<Arch> archs;
    for (auto& a : o.archs) archs.push_back(parse_arch(a));
    std::vector<Input> inputs;
    for (auto& s : o.inputs) inputs.push_back(parse_input(s));
    for (double w : o.widths) COLLAPSE_CHECK(w > 0, "--width ", w, " must be > 0");
    for (int t : o.threads) COLLAPSE_CHECK(t > 0, "--threads ", t, " must be > 0");
    const Device device = Device::parse(o.device);
    COLLAPSE_CHECK(device.is_cpu() || cuda_device_available(), "--device ", o.device,
                   ": no CUDA device answers (or this build has no CUDA backend)");

    if (o.print_params) {
      for (const Arch& a : archs)
        for (double w : o.widths)
          for (const Input& in : inputs) {
            Generator gen(o.seed);
            NetworkPtr m = build_model(model_config(a, w, in, o.classes), gen);
            std::printf("{\"arch\": \"%s\", \"input\": \"%s\", \"width\": %s, \"params\": %lld}\n", a.name.c_str(),
                        in.label.c_str(), width_str(w).c_str(), static_cast<long long>(m->parameter_count()));
          }
      return 0;
    }

    std::vector<int> threads = o.threads;
    if (threads.empty()) threads.push_back(0);
    if (!o.json_only) {
      std::printf("collapse bench-train-step: device %s, batch %lld, %d warm-up + %d timed steps per row (median), "
                  "SGD momentum 0.9, weight decay 5e-4, cpu Winograd convolutions %s%s\n",
                  device.str().c_str(), static_cast<long long>(o.batch), o.warmup, o.steps,
                  cpu_winograd_status().c_str(),
                  o.no_fork ? "" : "; each row in its own process");
      for (const Input& in : inputs)
        if (in.dataset_size != in.size)
          std::printf("input %s: the network runs on %lldx%lldx%lld (padded, as the protocol does)\n", in.label.c_str(),
                      static_cast<long long>(in.channels), static_cast<long long>(in.size),
                      static_cast<long long>(in.size));
      std::printf("allocs: real CPU allocations per timed step; prims: oneDNN primitives created over all timed steps "
                  "(both must be 0)\n");
      print_header(!device.is_cpu());
    }
    int failures = 0;
    for (const Arch& a : archs)
      for (const Input& in : inputs)
        for (double w : o.widths)
          for (int t : threads)
            if (const BusyCores busy(o.busy_cores); !run_row_isolated(o, a, w, in, t)) ++failures;
    return failures ? 1 : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench-train-step: %s\n", e.what());
    return 1;
  }
}
