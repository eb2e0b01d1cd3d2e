#pragma once
// How OpenMP threads wait at barriers. libgomp's default spins up to 300,000 times before sleeping: ideal
// on an idle machine, but when another program takes one of two cores (another session: Linux's autogroup
// scheduler then shares the cores between sessions), the two threads of a step spin while their partner
// waits for its timeslice, and a ResNet18 step runs ~30× slower (docs/performance.md § "A busy machine").
// A bounded spin count keeps the idle speed and most of the busy one: measured here, ResNet18 width 1/4,
// 2 threads, one core taken by a spinner in another session:
//   default          idle 1,615-1,647 img/s, busy 52-56   (0.03×)
//   GOMP_SPINCOUNT=1000   idle 1,600-1,609, busy 616-641 (0.38-0.40×)
//   OMP_WAIT_POLICY=passive idle 1,505, busy 681 (0.45×)
// libgomp reads its environment once, when it loads, before main(): so the policy is set by re-executing
// the program once with GOMP_SPINCOUNT in its environment. The user's own OMP_WAIT_POLICY or GOMP_SPINCOUNT
// always wins, and COLLAPSE_OMP_SPINCOUNT=default keeps libgomp's default.
#include <string>

namespace collapse {

inline constexpr const char* kCollapseSpinCount = "1000";

// Call first in main(), before any OpenMP or threads: re-executes this program with GOMP_SPINCOUNT set when
// neither it nor OMP_WAIT_POLICY is set (Linux; elsewhere, or if the re-exec fails, it returns and nothing
// changes).
void adopt_openmp_wait_policy(char** argv);

// The policy in effect, for config.json: "GOMP_SPINCOUNT=1000 (collapse's default)", "OMP_WAIT_POLICY=passive
// (user)", "libgomp default (COLLAPSE_OMP_SPINCOUNT=default)" ...
std::string openmp_wait_policy();

}  // namespace collapse
