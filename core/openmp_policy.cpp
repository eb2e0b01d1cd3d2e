#include "core/openmp_policy.h"

#include <omp.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "core/available_cpus.h"
#include "core/busy_cpu_watch.h"

namespace collapse {
namespace {
const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// COLLAPSE_OMP_POLICY, set with GOMP_SPINCOUNT by the re-exec: which of collapse's policies is in effect.
constexpr const char* kWatched = "collapse-watched";
constexpr const char* kFixed = "collapse";

bool policy_is(const char* which) {
  const char* ours = env("COLLAPSE_OMP_POLICY");
  return ours && std::strcmp(ours, which) == 0;
}
}  // namespace

void adopt_openmp_wait_policy(char** argv) {
  if (env("OMP_WAIT_POLICY") || env("GOMP_SPINCOUNT")) return;  // the user's choice, or our own re-exec
  if (const char* mode = env("COLLAPSE_OMP_SPINCOUNT"); mode && std::strcmp(mode, "default") == 0) return;
  const bool watchable = std::ifstream("/proc/stat").good();
  if (setenv("GOMP_SPINCOUNT", watchable ? kCollapseSpinCount : kCollapseFixedSpinCount, 1) != 0 ||
      setenv("COLLAPSE_OMP_POLICY", watchable ? kWatched : kFixed, 1) != 0)
    return;
  execv("/proc/self/exe", argv);
  // Still here: the re-exec failed (no /proc); run on with libgomp's default, and say so in config.json.
  unsetenv("GOMP_SPINCOUNT");
  unsetenv("COLLAPSE_OMP_POLICY");
}

int use_openmp_threads(int requested) {
  if (const int chosen = threads_to_use(requested); chosen > 0) omp_set_num_threads(chosen);
  const int threads = omp_get_max_threads();
  if (policy_is(kWatched) && env("GOMP_SPINCOUNT")) watch_busy_cpus(threads);
  return threads;
}

std::string openmp_wait_policy() {
  const bool ours = policy_is(kWatched) || policy_is(kFixed);
  if (const char* spin = env("GOMP_SPINCOUNT")) {
    if (!ours) return std::string("GOMP_SPINCOUNT=") + spin + " (user)";
    return std::string("GOMP_SPINCOUNT=") + spin +
           (policy_is(kWatched) ? ", 100 while other programs take the CPUs" : "") + " (collapse's default)";
  }
  if (const char* policy = env("OMP_WAIT_POLICY")) return std::string("OMP_WAIT_POLICY=") + policy + " (user)";
  return "libgomp default";
}

}  // namespace collapse
