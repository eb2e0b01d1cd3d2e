// Long-tailed training sets (--imbalance) and the measurements that go with the field's questions since
// 2020: minority_collapse (Fang et al. 2021) and test_collapse (Hui et al. 2022).
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>

#include <nlohmann/json.hpp>

#include "data/registry.h"
#include "data/subsample.h"
#include "tests/testing/gradcheck.h"

using namespace collapse;
using namespace collapse::testing;

TEST(Imbalance, CountsFollowTheProfiles) {
  const std::vector<int64_t> exp = imbalanced_counts(100, 10, 10.0, "exp");
  EXPECT_EQ(exp.front(), 100);
  EXPECT_EQ(exp.back(), 10);
  for (size_t c = 1; c < exp.size(); ++c) EXPECT_LT(exp[c], exp[c - 1]);
  EXPECT_EQ(exp[5], std::llround(100 * std::pow(10.0, -5.0 / 9)));
  EXPECT_EQ(imbalanced_counts(100, 10, 10.0, "step"), (std::vector<int64_t>{100, 100, 100, 100, 100, 10, 10, 10, 10, 10}));
  EXPECT_EQ(imbalanced_counts(40, 3, 1.0, "exp"), (std::vector<int64_t>{40, 40, 40}));
  EXPECT_EQ(imbalanced_counts(5, 2, 1000.0, "step"), (std::vector<int64_t>{5, 1}));  // at least one
  expect_error_containing([] { imbalanced_counts(10, 3, 0.5, "exp"); }, {"--imbalance 0.5", ">= 1"});
  expect_error_containing([] { imbalanced_counts(10, 3, 2, "linear"); }, {"--imbalance-profile 'linear'"});
  EXPECT_EQ(first_of_each_class({0, 1, 2, 3, 4, 5}, {0, 1, 0, 1, 0, 1}, {2, 1}), (std::vector<int64_t>{0, 1, 2}));
  expect_error_containing([] { first_of_each_class({0, 1}, {0, 1}, {2, 1}); }, {"class 0 has 1"});
}

TEST(Imbalance, LoadedMnistHasTheProfilesCounts) {
  const std::string data = COLLAPSE_SHARED_DATASETS;
  if (!std::filesystem::exists(data + "/mnist")) GTEST_SKIP() << "no " << data << "/mnist";
  LoadOptions options;
  options.train_per_class = 50;
  options.imbalance_ratio = 10;
  options.imbalance_profile = "exp";
  const LoadedDataset loaded = load_dataset("mnist", data, options);
  EXPECT_EQ(loaded.train_class_counts, imbalanced_counts(50, 10, 10.0, "exp"));
  EXPECT_EQ(loaded.train->size(), std::accumulate(loaded.train_class_counts.begin(), loaded.train_class_counts.end(), int64_t{0}));
}

// nc-experiment with --imbalance and both measurements: they are recorded with their structure, the
// minority classes are those below the largest, and the test-set NC1 is a finite positive number.
TEST(Imbalance, NcExperimentMeasuresMinorityAndTestCollapse) {
  const std::string data = COLLAPSE_SHARED_DATASETS;
  if (!std::filesystem::exists(data + "/mnist")) GTEST_SKIP() << "no " << data << "/mnist";
  const auto dir = std::filesystem::temp_directory_path() / "collapse_imbalance_run";
  std::filesystem::remove_all(dir);
  const std::string cmd = "OMP_NUM_THREADS=1 " + std::string(COLLAPSE_BINARY_DIR) + "/nc-experiment --dataset mnist "
                          "--data-root " + data + " --arch resnet --depth 18 --width 0.125 --per-class 20 --imbalance 10 "
                          "--imbalance-profile step --test-per-class 5 --epochs 2 --batch-size 20 --measure-epochs 0,2 "
                          "--measure minority_collapse,test_collapse --quiet --out " + dir.string() + " > " +
                          dir.string() + ".log 2>&1";
  const int status = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << cmd;
  std::ifstream config_file(dir / "config.json");
  const nlohmann::json config = nlohmann::json::parse(config_file);
  EXPECT_EQ(config["imbalance_ratio"], 10.0);
  EXPECT_EQ(config["train_class_counts"], nlohmann::json({20, 20, 20, 20, 20, 2, 2, 2, 2, 2}));
  std::ifstream metrics(dir / "metrics.jsonl");
  std::string last;
  for (std::string line; std::getline(metrics, line);) last = line;
  const nlohmann::json m = nlohmann::json::parse(last);
  EXPECT_EQ(m["minority_collapse"]["minority_classes"], nlohmann::json({5, 6, 7, 8, 9}));
  EXPECT_NEAR(m["minority_collapse"]["etf_cosine"].get<double>(), -1.0 / 9, 1e-12);
  const double minority_cos = m["minority_collapse"]["minority"]["classifiers"]["mean_cosine"].get<double>();
  EXPECT_GE(minority_cos, -1.0);
  EXPECT_LE(minority_cos, 1.0);
  EXPECT_EQ(m["test_collapse"]["num_test"], 50);
  EXPECT_GT(m["test_collapse"]["nc1"].get<double>(), 0.0);
  EXPECT_EQ(m["test_collapse"]["nc1_per_class"].size(), 10u);
  EXPECT_EQ(m["nc1_per_class"].size(), 10u);
  std::filesystem::remove_all(dir);
}
