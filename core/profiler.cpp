#include "core/profiler.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <utility>

namespace collapse::profile {
namespace {

struct Totals {
  int64_t calls = 0;
  double ms = 0.0;
};

// Kernels are called from the training thread, but data-loader threads may run kernels too: one lock.
std::mutex g_mutex;
std::map<std::pair<std::string, std::string>, Totals> g_totals;  // (op, layer) -> totals

thread_local std::string t_layer;

void add_row(std::map<std::string, Row>& rows, const std::string& name, const Totals& t) {
  Row& r = rows[name];
  r.name = name;
  r.calls += t.calls;
  r.ms += t.ms;
}

std::vector<Row> largest_first(const std::map<std::string, Row>& rows) {
  std::vector<Row> out;
  for (const auto& [name, row] : rows) out.push_back(row);
  std::stable_sort(out.begin(), out.end(), [](const Row& a, const Row& b) { return a.ms > b.ms; });
  return out;
}

void print_rows(std::FILE* out, const char* title, const std::vector<Row>& rows, int steps, double step_ms,
                size_t max_rows) {
  std::fprintf(out, "  %-52s %8s %10s %7s\n", title, "calls", "ms/step", "share");
  const size_t n = max_rows == 0 ? rows.size() : std::min(rows.size(), max_rows);
  for (size_t i = 0; i < n; ++i) {
    const double ms = rows[i].ms / steps;
    std::fprintf(out, "  %-52s %8.1f %10.3f", rows[i].name.c_str(), static_cast<double>(rows[i].calls) / steps, ms);
    if (step_ms > 0) std::fprintf(out, " %6.1f%%", 100.0 * ms / step_ms);
    std::fprintf(out, "\n");
  }
  if (n < rows.size()) {
    double rest = 0.0;
    for (size_t i = n; i < rows.size(); ++i) rest += rows[i].ms / steps;
    char more[32];
    std::snprintf(more, sizeof more, "(%zu more)", rows.size() - n);
    std::fprintf(out, "  %-52s %8s %10.3f", more, "", rest);
    if (step_ms > 0) std::fprintf(out, " %6.1f%%", 100.0 * rest / step_ms);
    std::fprintf(out, "\n");
  }
}

}  // namespace

void enable(bool on) { g_enabled.store(on, std::memory_order_relaxed); }

void reset() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_totals.clear();
}

LayerScope::LayerScope(std::string_view local_name) : previous_size_(t_layer.size()) {
  if (local_name.empty()) return;
  if (!t_layer.empty()) t_layer += '.';
  t_layer += local_name;
}

LayerScope::~LayerScope() { t_layer.resize(previous_size_); }

BackwardScope::BackwardScope(const std::string& layer) : saved_(std::move(t_layer)) {
  t_layer = (layer.empty() ? std::string("(outside layers)") : layer) + " (backward)";
}

BackwardScope::~BackwardScope() { t_layer = std::move(saved_); }

const std::string& current_layer() { return t_layer; }

OpTimer::~OpTimer() {
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  std::lock_guard<std::mutex> lock(g_mutex);
  Totals& t = g_totals[{op_, t_layer}];
  t.calls += 1;
  t.ms += ms;
}

Snapshot snapshot() {
  std::map<std::string, Row> ops, layers;
  Snapshot s;
  std::lock_guard<std::mutex> lock(g_mutex);
  for (const auto& [key, totals] : g_totals) {
    add_row(ops, key.first, totals);
    add_row(layers, key.second.empty() ? "(outside layers)" : key.second, totals);
    s.kernel_ms += totals.ms;
  }
  s.by_op = largest_first(ops);
  s.by_layer = largest_first(layers);
  return s;
}

void print_report(std::FILE* out, const Snapshot& s, int steps, double step_ms, size_t max_layers) {
  steps = std::max(steps, 1);
  std::fprintf(out, "profile: per step, averaged over %d steps", steps);
  if (step_ms > 0)
    std::fprintf(out, "; step %.3f ms, in kernels %.3f ms, not in kernels (autograd, allocation, glue) %.3f ms",
                 step_ms, s.kernel_ms / steps, step_ms - s.kernel_ms / steps);
  std::fprintf(out, "\n");
  print_rows(out, "op", s.by_op, steps, step_ms, 0);
  print_rows(out, "layer", s.by_layer, steps, step_ms, max_layers);
  std::fflush(out);
}

}  // namespace collapse::profile
