// The busy-CPU watch (core/busy_cpu_watch.h): reading /proc/stat, the estimate of other programs' CPUs,
// the switching rule, and that the spare team really turns libgomp's long spin into its short one.
#include <gtest/gtest.h>

#include <omp.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "core/available_cpus.h"
#include "core/busy_cpu_watch.h"

using namespace collapse;

namespace {

const char* const kProcStat =
    "cpu  100 0 50 1000 0 0 0 0 0 0\n"
    "cpu0 10 1 5 500 7 2 3 4 0 0\n"
    "cpu1 20 0 10 500 0 0 0 0 0 0\n"
    "cpu3 1 2 3 4 5 6 7\n"  // a kernel older than 2.6.11: no steal column
    "intr 12345 0 0\n"
    "ctxt 999\n";

// CPU seconds that OpenMP thread 1 spends waiting at a barrier that thread 0 reaches 500 ms later.
double waiting_thread_cpu_seconds() {
  double waited = -1;
#pragma omp parallel num_threads(2)
  {
    if (omp_get_thread_num() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    timespec before{}, after{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &before);
#pragma omp barrier
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &after);
    if (omp_get_thread_num() == 1)
      waited = static_cast<double>(after.tv_sec - before.tv_sec) +
               1e-9 * static_cast<double>(after.tv_nsec - before.tv_nsec);
  }
  return waited;
}

}  // namespace

TEST(BusyCpuWatch, BusyTicksOfTheProcessCpus) {
  EXPECT_EQ(busy_ticks_of(kProcStat, {0}), 10 + 1 + 5 + 2 + 3 + 4);  // idle and iowait are not busy
  EXPECT_EQ(busy_ticks_of(kProcStat, {0, 1}), 25 + 30);
  EXPECT_EQ(busy_ticks_of(kProcStat, {3}), 1 + 2 + 3 + 6 + 7);
  EXPECT_EQ(busy_ticks_of(kProcStat, {2}), -1);  // no line for it
  EXPECT_EQ(busy_ticks_of("", {0}), -1);
  EXPECT_EQ(busy_ticks_of("cpu0 garbage\n", {0}), -1);
  EXPECT_EQ(busy_ticks_of(kProcStat, {}), 0);
}

TEST(BusyCpuWatch, OtherProgramsAreTheBusyTimeThisProcessDidNotUse) {
  // Two CPUs busy for half a second (100 ticks at 100 per second), this process used half a CPU-second:
  // the other half a CPU-second was someone else's, one CPU over that half second.
  EXPECT_DOUBLE_EQ(other_programs_cpus(100, 100, 0.5, 0.5), 1.0);
  EXPECT_DOUBLE_EQ(other_programs_cpus(100, 100, 1.0, 0.5), 0.0);
  EXPECT_DOUBLE_EQ(other_programs_cpus(100, 100, 1.02, 0.5), 0.0);  // tick rounding never goes negative
  EXPECT_DOUBLE_EQ(other_programs_cpus(100, 100, 0.5, 0.0), 0.0);
}

TEST(BusyCpuWatch, ShortWaitsWhenOtherProgramsTakeWhatTheThreadsNeed) {
  // Two CPUs, two threads: another session's program takes one.
  EXPECT_TRUE(short_waits_wanted(false, 1.0, 2, 2));
  EXPECT_FALSE(short_waits_wanted(false, 0.3, 2, 2));  // a light background load: keep spinning
  EXPECT_TRUE(short_waits_wanted(true, 0.3, 2, 2));    // hysteresis: once short, it takes more to go back
  EXPECT_FALSE(short_waits_wanted(true, 0.1, 2, 2));
  // Four CPUs, two threads: one busy CPU leaves the threads theirs.
  EXPECT_FALSE(short_waits_wanted(false, 1.0, 4, 2));
  EXPECT_TRUE(short_waits_wanted(false, 2.6, 4, 2));
}

// Run in a child process by the test below, with a spin count far longer than the wait.
TEST(BusyCpuWatch, SpareTeamProbe) {
  if (!std::getenv("COLLAPSE_SPARE_TEAM_PROBE")) GTEST_SKIP() << "run by OversubscribedSignalShortensLibgompSpin";
  const int cpus = available_cpus().affinity;
  const double spinning = waiting_thread_cpu_seconds();
  OversubscribedSignal signal(cpus);
  signal.engage();
  EXPECT_TRUE(signal.engaged());
  const double engaged = waiting_thread_cpu_seconds();
  signal.release();
  EXPECT_FALSE(signal.engaged());
  const double released = waiting_thread_cpu_seconds();
  std::printf("waiting thread's CPU seconds: spinning %.3f, engaged %.3f, released %.3f\n", spinning, engaged,
              released);
  EXPECT_GT(spinning, 0.08);  // it spun (most of 0.5 s, less if the machine is busy)
  EXPECT_LT(engaged, 0.03);   // it slept after 100 spins
  EXPECT_GT(released, 0.08);  // the long spin is back
}

TEST(BusyCpuWatch, OversubscribedSignalShortensLibgompSpin) {
#if defined(__clang__)
  // clang compiles this file's parallel regions for LLVM's runtime (libomp: the sanitizer build), which
  // waits by KMP_BLOCKTIME, not by libgomp's GOMP_SPINCOUNT.
  GTEST_SKIP() << "built with clang: OpenMP regions run on libomp, not libgomp";
#endif
  if (available_cpus().affinity < 2) GTEST_SKIP() << "one CPU: two threads are oversubscribed already";
  const std::string log = (std::filesystem::temp_directory_path() / "collapse_spare_team_probe.log").string();
  // libgomp reads GOMP_SPINCOUNT when it loads, hence a child process (OMP_WAIT_POLICY unset: throttled = 100).
  const std::string cmd = "env -u OMP_WAIT_POLICY COLLAPSE_SPARE_TEAM_PROBE=1 GOMP_SPINCOUNT=100000000000 "
                          "/proc/" + std::to_string(getpid()) + "/exe --gtest_filter=BusyCpuWatch.SpareTeamProbe > " +
                          log + " 2>&1";
  const int status = std::system(cmd.c_str());
  std::ifstream in(log);
  std::stringstream output;
  output << in.rdbuf();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd << "\n" << output.str();
  EXPECT_NE(output.str().find("waiting thread's CPU seconds"), std::string::npos) << output.str();
  std::filesystem::remove(log);
}

TEST(BusyCpuWatch, StatsAreEmptyUntilAWatchRuns) {
  // The test binary adopts no policy, so nothing started a watch here.
  const BusyCpuWatchStats stats = busy_cpu_watch_stats();
  EXPECT_FALSE(stats.running);
  EXPECT_EQ(stats.times_engaged, 0);
}
