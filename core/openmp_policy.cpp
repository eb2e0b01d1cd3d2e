#include "core/openmp_policy.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace collapse {
namespace {
const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}
}  // namespace

void adopt_openmp_wait_policy(char** argv) {
  if (env("OMP_WAIT_POLICY") || env("GOMP_SPINCOUNT")) return;  // the user's choice, or our own re-exec
  if (const char* mode = env("COLLAPSE_OMP_SPINCOUNT"); mode && std::strcmp(mode, "default") == 0) return;
  if (setenv("GOMP_SPINCOUNT", kCollapseSpinCount, 1) != 0 || setenv("COLLAPSE_OMP_POLICY", "collapse", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Still here: the re-exec failed (no /proc); run on with libgomp's default, and say so in config.json.
  unsetenv("GOMP_SPINCOUNT");
  unsetenv("COLLAPSE_OMP_POLICY");
}

std::string openmp_wait_policy() {
  const char* ours = env("COLLAPSE_OMP_POLICY");
  if (const char* spin = env("GOMP_SPINCOUNT"))
    return std::string("GOMP_SPINCOUNT=") + spin + (ours ? " (collapse's default)" : " (user)");
  if (const char* policy = env("OMP_WAIT_POLICY")) return std::string("OMP_WAIT_POLICY=") + policy + " (user)";
  return "libgomp default";
}

}  // namespace collapse
