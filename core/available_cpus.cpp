#include "core/available_cpus.h"

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

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The folder part of each line of /proc/self/cgroup, by hierarchy: "0::/a/b" (v2) or "2:cpu,cpuacct:/a" (v1).
std::string cgroup_path(const std::string& wanted_controller) {
  std::ifstream in("/proc/self/cgroup");
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find(':'), second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    std::stringstream list(controllers);
    for (std::string c; std::getline(list, c, ',');)
      if (c == wanted_controller) return line.substr(second + 1);
    if (wanted_controller.empty() && controllers.empty()) return line.substr(second + 1);
  }
  return "";
}

// "/a/b" -> {"/a/b", "/a", ""}: a limit on any ancestor applies too.
std::vector<std::string> self_and_ancestors(std::string path) {
  std::vector<std::string> out;
  while (!path.empty() && path != "/") {
    out.push_back(path);
    path = path.substr(0, path.find_last_of('/'));
  }
  out.push_back("");
  return out;
}

double tighter(double a, double b) { return a == 0 ? b : b == 0 ? a : std::min(a, b); }

double quota_of_this_process() {
  double quota = 0;
  for (const std::string& dir : self_and_ancestors(cgroup_path("")))
    quota = tighter(quota, cgroup_v2_quota(read_first_line("/sys/fs/cgroup" + dir + "/cpu.max")));
  for (const char* mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"})
    for (const std::string& dir : self_and_ancestors(cgroup_path("cpu"))) {
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
