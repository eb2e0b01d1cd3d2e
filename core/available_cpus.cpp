#include "core/available_cpus.h"

#include "core/cgroup_files.h"

#include <sched.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace collapse {
namespace {

double tighter(double a, double b) { return a == 0 ? b : b == 0 ? a : std::min(a, b); }

double quota_of_this_process() {
  double quota = 0;
  using namespace cgroup;
  for (const std::string& dir : self_and_ancestors(path_of_this_process("")))
    quota = tighter(quota, cgroup_v2_quota(read_first_line("/sys/fs/cgroup" + dir + "/cpu.max")));
  for (const char* mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"})
    for (const std::string& dir : self_and_ancestors(path_of_this_process("cpu"))) {
      const std::string q = read_first_line(mount + dir + "/cpu.cfs_quota_us");
      const std::string p = read_first_line(mount + dir + "/cpu.cfs_period_us");
      if (!q.empty() && !p.empty()) quota = tighter(quota, cgroup_v1_quota(std::atoll(q.c_str()), std::atoll(p.c_str())));
    }
  return quota;
}

}  // namespace

double cgroup_v2_quota(const std::string& cpu_max) {
  std::istringstream in(cpu_max);
  std::string quota;
  long long period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return 0;
  return cgroup_v1_quota(std::atoll(quota.c_str()), period);
}

double cgroup_v1_quota(long long quota_us, long long period_us) {
  return quota_us > 0 && period_us > 0 ? static_cast<double>(quota_us) / static_cast<double>(period_us) : 0;
}

AvailableCpus available_cpus() {
  AvailableCpus cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  cpus.affinity = sched_getaffinity(0, sizeof(set), &set) == 0 ? std::max(1, CPU_COUNT(&set)) : 1;
  cpus.quota = quota_of_this_process();
  cpus.count = cpus.affinity;
  if (cpus.quota > 0) cpus.count = std::max(1, std::min(cpus.count, static_cast<int>(std::ceil(cpus.quota - 1e-9))));
  return cpus;
}

int threads_to_use(int requested) {
  if (requested > 0) return requested;
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env && *env) return 0;
  return available_cpus().count;
}

std::string AvailableCpus::describe() const {
  char quota_text[64];
  if (quota > 0)
    std::snprintf(quota_text, sizeof(quota_text), "cgroup quota %.2f", quota);
  else
    std::snprintf(quota_text, sizeof(quota_text), "no cgroup quota");
  return std::to_string(count) + " (affinity " + std::to_string(affinity) + ", " + quota_text + ")";
}

}  // namespace collapse
