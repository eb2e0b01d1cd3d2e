#pragma once
// OpenMP waiting that follows the machine. At a barrier, a thread of libgomp spins GOMP_SPINCOUNT times
// before it sleeps. On an idle machine a long spin is fastest: a sleeping thread must be woken at the next
// parallel region, and in a VM whose idle CPUs halt that costs tens of microseconds, ~200 times per step
// (ResNet18 width 1/4 ran 8% slower, VGG11 18% slower, with 1,000 spins than with 20,000 here). When other
// programs take the CPUs (another session's program: Linux's autogroup scheduler then shares the cores
// between sessions, and two threads of a step share one core), every spin is a timeslice the partner
// thread cannot use, and a short spin is fastest (docs/performance.md § "A busy machine").
//
// libgomp has both spins: GOMP_SPINCOUNT, and a short "throttled" one (100 spins) that it uses whenever it
// manages more threads than the CPUs it may run on (libgomp's manual, GOMP_SPINCOUNT), checked at every
// wait. So the policy (core/openmp_policy.h) sets a long GOMP_SPINCOUNT, and this watch samples, twice a
// second, how much of this process's CPUs other programs use (/proc/stat less this process's own CPU
// time). While they take what the team's threads need, it keeps a spare team of idle OpenMP threads alive
// in a thread of its own, so that libgomp counts more threads than CPUs and spins briefly; once the CPUs
// are free again it lets that thread end, and libgomp's count (and its long spin) comes back. Only waiting
// changes: no result depends on it. This is libgomp's (GCC builds, and oneDNN's runtime here); a clang
// build (the sanitizer tree) runs its own parallel regions on LLVM's libomp, which waits by KMP_BLOCKTIME.
#include <cstdint>
#include <string>
#include <vector>

namespace collapse {

// Busy ticks (user, nice, system, irq, softirq, steal) summed over `cpus` in /proc/stat text; -1 when a
// CPU's line is missing or malformed.
int64_t busy_ticks_of(const std::string& proc_stat, const std::vector<int>& cpus);

// CPUs that other programs kept busy over an interval: busy ticks of this process's CPUs in that interval
// (ticks_per_second from sysconf(_SC_CLK_TCK)) less this process's own CPU seconds, per wall second.
double other_programs_cpus(int64_t busy_ticks, double ticks_per_second, double own_cpu_seconds, double wall_seconds);

// Whether threads should wait briefly, given whether they do now (hysteresis, so that the noise of one
// interval does not toggle it): yes once other programs leave fewer CPUs than `threads` by half a CPU,
// and again no once they leave all but a quarter of a CPU of what the threads need.
bool short_waits_wanted(bool short_now, double other_cpus, int cpus, int threads);

// Makes libgomp count more threads than the `cpus` it may run on, while engaged: a thread of its own runs
// one parallel region of enough threads, whose pool stays alive (and counted) until release() ends it.
class OversubscribedSignal {
 public:
  explicit OversubscribedSignal(int cpus) : cpus_(cpus) {}
  ~OversubscribedSignal() { release(); }
  OversubscribedSignal(const OversubscribedSignal&) = delete;
  OversubscribedSignal& operator=(const OversubscribedSignal&) = delete;
  void engage();   // returns once libgomp counts the spare threads
  void release();  // returns once their thread has ended (and libgomp's count is back)
  bool engaged() const;

 private:
  struct Spare;
  int cpus_;
  Spare* spare_ = nullptr;
};

// Starts the watch (once per process; later calls update the thread count), for a team of `threads`.
// Does nothing for one thread (no barriers) or where /proc/stat cannot be read.
void watch_busy_cpus(int threads);

// What the watch did so far, for benchmarks and run logs.
struct BusyCpuWatchStats {
  bool running = false;
  bool short_waits_now = false;
  int64_t times_engaged = 0;
  double seconds_engaged = 0;
};
BusyCpuWatchStats busy_cpu_watch_stats();

}  // namespace collapse
