#pragma once
// How many CPUs this process can actually use. libgomp's default thread count follows the affinity mask
// only, so in a container limited by a CPU quota (docker --cpus=1, a Kubernetes limit, a Slurm cgroup) it
// starts one thread per host core, and the threads of a step take turns on the quota: the same slowdown
// as a busy machine (docs/performance.md § "A busy machine"). The count here is the affinity mask's,
// capped by the quota (rounded up) of this process's cgroup and each of its ancestors, v1 or v2.
#include <string>

namespace collapse {

struct AvailableCpus {
  int count = 1;       // what a default thread count should be
  int affinity = 1;    // CPUs in the affinity mask
  double quota = 0;    // the tightest cgroup CPU quota in CPUs; 0 = none
  std::string describe() const;  // "2 (affinity 2, no cgroup quota)", "1 (affinity 16, cgroup quota 1.00)"
};

AvailableCpus available_cpus();

// The OpenMP thread count for a run: `requested` when > 0; else OMP_NUM_THREADS when the user set it (0 is
// returned: OpenMP already follows it); else available_cpus().count. Callers pass a positive result to
// omp_set_num_threads.
int threads_to_use(int requested);

// The tightest quota in CPUs from cgroup files, for tests: v2 "cpu.max" text ("max 100000", "150000 100000")
// and v1 quota/period in microseconds (quota -1 = none). 0 when there is no limit.
double cgroup_v2_quota(const std::string& cpu_max);
double cgroup_v1_quota(long long quota_us, long long period_us);

}  // namespace collapse
