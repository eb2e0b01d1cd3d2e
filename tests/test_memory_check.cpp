// A model too large for the machine is refused before it is allocated: the memory this process may take
// (core/available_memory.h), the parameter count at a width without building it there
// (layers/models/parameter_estimate.h), and nc-experiment's usage error built from both.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/available_memory.h"
#include "core/rng.h"
#include "experiments/support/memory_check.h"
#include "layers/models/parameter_estimate.h"

namespace fs = std::filesystem;
using namespace collapse;

TEST(AvailableMemory, ParsesMeminfoAndCgroupLimits) {
  EXPECT_EQ(meminfo_available_bytes("MemTotal:  100 kB\nMemFree:    10 kB\nMemAvailable:   2048 kB\n"),
            uint64_t{2048} * 1024);
  EXPECT_FALSE(meminfo_available_bytes("MemTotal: 100 kB\n").has_value());
  EXPECT_EQ(cgroup_memory_left("1073741824", "73741824"), uint64_t{1000000000});
  EXPECT_EQ(cgroup_memory_left("1000", "5000"), uint64_t{0});  // over the limit already: nothing left
  EXPECT_FALSE(cgroup_memory_left("max", "5000").has_value());  // v2: no limit
  EXPECT_FALSE(cgroup_memory_left("9223372036854771712", "5000").has_value());  // v1's "no limit"
  EXPECT_FALSE(cgroup_memory_left("", "").has_value());  // not readable
}

TEST(AvailableMemory, ThisMachineReportsSomething) {
  const auto m = available_memory();
  ASSERT_TRUE(m.has_value()) << "Linux has /proc/meminfo";
  EXPECT_GT(m->bytes, uint64_t{0});
  EXPECT_TRUE(m->source == "MemAvailable" || m->source == "cgroup limit") << m->source;
}

TEST(ParameterEstimate, ExactAtSmallWidthsAndCloseAboveForEveryFamily) {
  for (const ModelConfig& base :
       {ModelConfig{"resnet", 18, 1, 3, 32, 10, 0}, ModelConfig{"vgg", 11, 1, 3, 32, 10, 0},
        ModelConfig{"densenet", 40, 1, 3, 32, 100, 0}, ModelConfig{"resnet", 50, 1, 3, 32, 100, 0}}) {
    for (const double width : {0.5, 1.0, 1.5}) {
      ModelConfig config = base;
      config.width = width;
      Generator gen(0);
      const double built = static_cast<double>(build_model(config, gen)->parameter_count());
      const double estimate = estimated_parameter_count(config);
      if (width <= kExactUpToWidth)
        EXPECT_EQ(estimate, built) << base.arch << base.depth << " width " << width;
      else
        EXPECT_LT(std::abs(estimate / built - 1), 0.03) << base.arch << base.depth << " width " << width
                                                        << ": estimate " << estimate << ", built " << built;
    }
  }
}

TEST(MemoryCheck, NcExperimentRefusesAModelTooLargeBeforeAllocatingIt) {
  // ResNet152 at width 16: ~1.5e10 parameters, ~230 GiB before any activation: more than any machine here.
  const auto available = available_memory();
  ASSERT_TRUE(available.has_value());
  if (available->bytes > uint64_t{200} << 30) GTEST_SKIP() << "this machine has more than 200 GiB available";
  const std::string log = (fs::temp_directory_path() / "collapse_memory_check.log").string();
  const fs::path out = fs::temp_directory_path() / "collapse_memory_check_run";
  fs::remove_all(out);
  const auto start = std::chrono::steady_clock::now();
  const std::string cmd = std::string(COLLAPSE_BINARY_DIR) + "/nc-experiment --dataset cifar100 --data-root /nonexistent "
                          "--arch resnet --depth 152 --width 16 --out " + out.string() + " > " + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ifstream in(log);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_EQ(WEXITSTATUS(status), 2) << text;
  EXPECT_NE(text.find("--width 16: resnet152 at this width has ~1."), std::string::npos) << text;
  EXPECT_NE(text.find("e+10 parameters"), std::string::npos) << text;
  EXPECT_NE(text.find("available"), std::string::npos) << text;
  EXPECT_LT(seconds, 30) << "refused before building the model at its width";
  EXPECT_FALSE(fs::exists(out / "config.json"));
}
