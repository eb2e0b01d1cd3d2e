// The OpenMP environment a run chooses for itself: the thread count from the CPUs it may use (affinity and
// cgroup quota) and the spin count that follows the machine (core/openmp_policy.h), each yielding to the
// user's own setting and recorded in config.json.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/available_cpus.h"

namespace fs = std::filesystem;
using namespace collapse;

namespace {

// Sets an environment variable for one scope and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? ::setenv(name, value, 1) : ::unsetenv(name);
  }
  ~ScopedEnv() { old_ ? ::setenv(name_, old_->c_str(), 1) : ::unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// config.json's environment of a two-epoch run made with `env` before the command.
nlohmann::json run_environment(const std::string& env, const std::string& name) {
  const std::string data = COLLAPSE_SHARED_DATASETS;
  const fs::path dir = fs::temp_directory_path() / name;
  fs::remove_all(dir);
  const std::string cmd = env + " " + COLLAPSE_BINARY_DIR + "/nc-experiment --dataset mnist --data-root " + data +
                          " --arch vgg --depth 11 --width 0.125 --per-class 2 --test-per-class 2 --epochs 2"
                          " --batch-size 10 --lr-milestones 1 --measure-epochs 0,2 --quiet --out " + dir.string() +
                          " > " + dir.string() + ".log 2>&1";
  const int status = std::system(cmd.c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  std::ifstream in(dir / "config.json");
  nlohmann::json config = nlohmann::json::parse(in, nullptr, false);
  fs::remove_all(dir);
  fs::remove(dir.string() + ".log");
  return config.is_discarded() ? nlohmann::json() : config["environment"];
}

}  // namespace

TEST(AvailableCpus, CgroupQuotasInCpus) {
  EXPECT_EQ(cgroup_v2_quota("max 100000"), 0);
  EXPECT_DOUBLE_EQ(cgroup_v2_quota("150000 100000"), 1.5);
  EXPECT_DOUBLE_EQ(cgroup_v2_quota("50000 100000\n"), 0.5);
  EXPECT_EQ(cgroup_v2_quota(""), 0);
  EXPECT_EQ(cgroup_v2_quota("garbage"), 0);
  EXPECT_EQ(cgroup_v2_quota("100000 0"), 0);
  EXPECT_EQ(cgroup_v1_quota(-1, 100000), 0);
  EXPECT_DOUBLE_EQ(cgroup_v1_quota(200000, 100000), 2.0);
  EXPECT_EQ(cgroup_v1_quota(100000, 0), 0);
}

TEST(AvailableCpus, CountIsWithinTheAffinityMaskAndQuota) {
  const AvailableCpus cpus = available_cpus();
  EXPECT_GE(cpus.count, 1);
  EXPECT_LE(cpus.count, cpus.affinity);
  EXPECT_LE(cpus.affinity, static_cast<int>(std::thread::hardware_concurrency()));
  if (cpus.quota > 0) {
    EXPECT_LE(cpus.count, static_cast<int>(cpus.quota) + 1);
  }
  EXPECT_NE(cpus.describe().find("affinity"), std::string::npos);
}

TEST(AvailableCpus, ThreadsToUseFollowsTheFlagThenTheUserThenTheMachine) {
  EXPECT_EQ(threads_to_use(3), 3);
  {
    ScopedEnv user("OMP_NUM_THREADS", "1");
    EXPECT_EQ(threads_to_use(0), 0);  // OpenMP already follows the user's setting
  }
  ScopedEnv none("OMP_NUM_THREADS", nullptr);
  EXPECT_EQ(threads_to_use(0), available_cpus().count);
}

TEST(OpenMpPolicy, RunsSpinBoundedByDefaultAndTheUserSettingWins) {
  if (!fs::exists(std::string(COLLAPSE_SHARED_DATASETS) + "/mnist")) GTEST_SKIP() << "no mnist subset";
  const auto ours = run_environment("OMP_NUM_THREADS=1", "collapse_omp_default");
  EXPECT_EQ(ours.value("omp_wait_policy", ""),
            "GOMP_SPINCOUNT=20000, 100 while other programs take the CPUs (collapse's default)")
      << ours.dump();
  EXPECT_NE(ours.value("available_cpus", "").find("affinity"), std::string::npos) << ours.dump();
  const auto passive = run_environment("OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive", "collapse_omp_passive");
  EXPECT_EQ(passive.value("omp_wait_policy", ""), "OMP_WAIT_POLICY=passive (user)") << passive.dump();
  const auto spin = run_environment("OMP_NUM_THREADS=1 GOMP_SPINCOUNT=5", "collapse_omp_spin");
  EXPECT_EQ(spin.value("omp_wait_policy", ""), "GOMP_SPINCOUNT=5 (user)") << spin.dump();
  const auto kept = run_environment("OMP_NUM_THREADS=1 COLLAPSE_OMP_SPINCOUNT=default", "collapse_omp_kept");
  EXPECT_EQ(kept.value("omp_wait_policy", ""), "libgomp default") << kept.dump();
}
