#pragma once
// How OpenMP threads wait at barriers. libgomp's default spins up to 300,000 times before sleeping: ideal
// on an idle machine, but when another program takes one of two cores (another session: Linux's autogroup
// scheduler then shares the cores between sessions), the two threads of a step spin while their partner
// waits for its timeslice, and a ResNet18 step runs ~30× slower (docs/performance.md § "A busy machine").
// A short spin is the cure there, and a cost on an idle machine whose idle CPUs halt (a sleeping thread is
// woken at every parallel region): ResNet18 width 1/4, 2 threads, img/s on one VM (2026-12-05):
//   spin count            idle        one core taken by another session's program
//   1,000                 1,097-1,102   533-542
//   20,000                1,178-1,208   337-342
// So collapse's policy is both: GOMP_SPINCOUNT=20000, and libgomp's short throttled spin (100) while other
// programs take the CPUs the threads need (core/busy_cpu_watch.h watches and switches). Where /proc/stat
// cannot be read (no watch), a fixed GOMP_SPINCOUNT=1000 instead.
//
// libgomp reads its environment once, when it loads, before main(): so the policy is set by re-executing
// the program once with GOMP_SPINCOUNT in its environment. The user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT
// always wins (and no watch runs), and COLLAPSE_OMP_SPINCOUNT=default keeps libgomp's default.
#include <string>

namespace collapse {

inline constexpr const char* kCollapseSpinCount = "20000";       // idle; short while the CPUs are taken
inline constexpr const char* kCollapseFixedSpinCount = "1000";   // where the CPUs cannot be watched

// Call first in main(), before any OpenMP or threads: re-executes this program with GOMP_SPINCOUNT set when
// neither it nor OMP_WAIT_POLICY is set (Linux; elsewhere, or if the re-exec fails, it returns and nothing
// changes).
void adopt_openmp_wait_policy(char** argv);

// Sets the OpenMP thread count of this run (threads_to_use(requested), core/available_cpus.h) and, under
// collapse's own policy, watches the CPUs for that many threads. Returns the thread count in effect.
int use_openmp_threads(int requested);

// The policy in effect, for config.json: "GOMP_SPINCOUNT=20000, 100 while other programs take the CPUs
// (collapse's default)", "OMP_WAIT_POLICY=passive (user)", "libgomp default" ...
std::string openmp_wait_policy();

}  // namespace collapse
