#pragma once
// Op-level profiler: where a training step spends its time, per primitive (kernel slot) and per layer.
//
// When enabled, every kernel call (backends/dispatch.h) is timed and charged to the op's slot name and
// to the layer that ran it: the dotted module path in the forward pass ("layer1.0.bn1"), and the same
// path marked "(backward)" for the backward ops of nodes that layer created. Time outside kernels
// (autograd bookkeeping, allocation, the Python-free glue) is what is left of the step: the report shows it
// as "not in kernels" when given the step time.
//
// Disabled (the default) it costs one relaxed atomic load per kernel call. CUDA kernels are asynchronous:
// their times are launch times unless CUDA_LAUNCH_BLOCKING=1 is set.
//
//   profile::enable(true); ...steps...; profile::enable(false);
//   profile::print_report(stdout, profile::snapshot(), steps, step_ms);
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace collapse::profile {

inline std::atomic<bool> g_enabled{false};
inline bool enabled() { return g_enabled.load(std::memory_order_relaxed); }
void enable(bool on);
void reset();  // drops everything recorded so far

// The layer the calling thread is working for. Module::operator() opens a LayerScope with the module's
// name inside its parent, so nested scopes build the dotted path.
class LayerScope {
 public:
  explicit LayerScope(std::string_view local_name);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  size_t previous_size_;
};

// Replaces the current layer path for the duration of a node's backward (the path saved at forward time).
class BackwardScope {
 public:
  explicit BackwardScope(const std::string& layer);
  ~BackwardScope();
  BackwardScope(const BackwardScope&) = delete;
  BackwardScope& operator=(const BackwardScope&) = delete;

 private:
  std::string saved_;
};

// The dotted path of the current layer ("" outside any module).
const std::string& current_layer();

// Times one kernel call and charges it to (op, current layer).
class OpTimer {
 public:
  explicit OpTimer(const char* op) : op_(op), start_(std::chrono::steady_clock::now()) {}
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* op_;
  std::chrono::steady_clock::time_point start_;
};

struct Row {
  std::string name;
  int64_t calls = 0;
  double ms = 0.0;
};
struct Snapshot {
  std::vector<Row> by_op;     // slot name, largest first
  std::vector<Row> by_layer;  // "layer1.0.conv1", "layer1.0.conv1 (backward)", largest first
  double kernel_ms = 0.0;     // sum over all kernel calls
};
Snapshot snapshot();

// Per-step figures (totals divided by `steps`); `step_ms` (per step, 0 = unknown) adds the share of each
// row and the time not spent in kernels. `max_layers` limits the layer table (0 = all).
void print_report(std::FILE* out, const Snapshot& s, int steps, double step_ms, size_t max_layers = 30);

}  // namespace collapse::profile
