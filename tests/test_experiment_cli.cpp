// nc-experiment end to end, as a user runs it: flag errors, a tiny real run's files, and resume after a
// simulated kill giving the same measurements as the uninterrupted run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

namespace {
const std::string kBinary = std::string(COLLAPSE_BINARY_DIR) + "/nc-experiment";
const std::string kData = COLLAPSE_SHARED_DATASETS;

int run(const std::string& args, const std::string& log) {
  const std::string cmd = "OMP_NUM_THREADS=1 " + kBinary + " " + args + " > " + log + " 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<nlohmann::json> metric_lines(const fs::path& dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir / "metrics.jsonl");
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  return out;
}

const std::string kTinyRun = "--dataset mnist --data-root " + kData +
                             " --arch resnet --depth 18 --width 0.125 --per-class 10 --test-per-class 10"
                             " --epochs 20 --batch-size 20 --lr 0.05 --lr-milestones 15,18"
                             " --measure-epochs 0,5,10,20 --quiet";
}  // namespace

TEST(ExperimentCli, UnknownFlagAndBadValuesFailBeforeAnyWork) {
  const fs::path dir = fs::temp_directory_path() / "collapse_cli_errors";
  fs::remove_all(dir);
  const std::string log = (fs::temp_directory_path() / "collapse_cli_errors.log").string();
  EXPECT_NE(run("--no-such-flag --out " + dir.string(), log), 0);
  EXPECT_NE(slurp(log).find("no-such-flag"), std::string::npos) << slurp(log);
  EXPECT_NE(run("--dataset cifar11 --out " + dir.string(), log), 0);
  EXPECT_NE(slurp(log).find("cifar10"), std::string::npos) << slurp(log);  // lists the valid names
  EXPECT_NE(run("--arch resnet --depth 19 --out " + dir.string(), log), 0);
  EXPECT_NE(run("--lr-milestones 5,x --out " + dir.string(), log), 0);
  EXPECT_NE(slurp(log).find("--lr-milestones"), std::string::npos) << slurp(log);
  EXPECT_NE(run("--measure nope --out " + dir.string(), log), 0);
  EXPECT_NE(run("--dataset mnist --image-size 64 --out " + dir.string(), log), 0);
  EXPECT_NE(slurp(log).find("--image-size: only for imagenet"), std::string::npos) << slurp(log);
  EXPECT_NE(run("--dataset imagenet --image-size 8 --out " + dir.string(), log), 0);
  EXPECT_NE(slurp(log).find("--image-size: must be in [16, 1024]"), std::string::npos) << slurp(log);
  EXPECT_FALSE(fs::exists(dir / "config.json"));  // nothing was started
}

TEST(ExperimentCli, TinyRunFitsAndWritesEveryFileThenResumesIdentically) {
  if (!fs::exists(kData + "/mnist")) GTEST_SKIP() << "no " << kData << "/mnist";
  const fs::path dir = fs::temp_directory_path() / "collapse_cli_run";
  fs::remove_all(dir);
  const std::string log = dir.string() + ".log";
  ASSERT_EQ(run(kTinyRun + " --out " + dir.string(), log), 0) << slurp(log);

  const auto config = nlohmann::json::parse(slurp(dir / "config.json"));
  EXPECT_EQ(config["seed"], 0);
  EXPECT_EQ(config["epochs"], 20);
  EXPECT_TRUE(config.contains("environment"));
  const std::string isa = config["environment"]["onednn_cpu_isa"].get<std::string>();
  EXPECT_FALSE(isa.empty() || isa == "unknown") << isa;
  const auto lines = metric_lines(dir);
  ASSERT_EQ(lines.size(), 4u);
  for (const char* key : {"epoch", "lr", "train_error", "test_error", "train_loss", "nc1", "nc1_trace",
                          "equinorm_means", "equinorm_classifiers", "equiangular_means", "equiangular_classifiers",
                          "maxangle_means", "maxangle_classifiers", "nc3", "nc4", "nc4_train", "wall_seconds"})
    EXPECT_TRUE(lines.back().contains(key)) << key;
  EXPECT_EQ(lines.back()["train_error"], 0.0) << "the tiny run should fit its 100 images";
  const auto summary = nlohmann::json::parse(slurp(dir / "summary.json"));
  EXPECT_FALSE(summary["first_zero_error_epoch"].is_null());
  EXPECT_FALSE(summary["tpt_onset_epoch"].is_null());
  // The terminal-phase change runs from the first measurement at or after onset to the last one.
  ASSERT_TRUE(summary.contains("terminal_phase"));
  const auto& tp = summary["terminal_phase"];
  EXPECT_GE(tp["from_epoch"].get<int>(), summary["tpt_onset_epoch"].get<int>());
  EXPECT_EQ(tp["to_epoch"], lines.back()["epoch"]);
  EXPECT_EQ(tp["nc1"]["final"], lines.back()["nc1"]);
  EXPECT_DOUBLE_EQ(tp["nc1_reduction"].get<double>(),
                   tp["nc1"]["at_onset"].get<double>() / tp["nc1"]["final"].get<double>());
  EXPECT_TRUE(fs::exists(dir / "checkpoints" / "epoch-0020" / "model.safetensors"));
  const auto geometry = nlohmann::json::parse(slurp(dir / "geometry.json"));  // Fig. 1's matrices, at the end
  EXPECT_EQ(geometry["epoch"], 20);
  EXPECT_EQ(geometry["mean_cosines"].size(), 10u);
  EXPECT_EQ(geometry["classifier_cosines"][3].size(), 10u);
  EXPECT_NEAR(geometry["mean_cosines"][4][4].get<double>(), 1.0, 1e-12);
  if (std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") == 0) {
    ASSERT_TRUE(fs::exists(dir / "plots" / "nc_metrics.png"));
    EXPECT_GT(fs::file_size(dir / "plots" / "nc_metrics.png"), 10000u);
  }

  // Simulated kill after epoch 10: the last checkpoint and measurement are gone; --resume redoes them.
  const fs::path killed = fs::temp_directory_path() / "collapse_cli_killed";
  fs::remove_all(killed);
  fs::copy(dir, killed, fs::copy_options::recursive);
  fs::remove_all(killed / "checkpoints" / "epoch-0020");
  ASSERT_EQ(run(kTinyRun + " --keep-checkpoints --out " + dir.string() + "_keep", log), 0) << slurp(log);
  fs::copy(fs::path(dir.string() + "_keep") / "checkpoints" / "epoch-0010", killed / "checkpoints" / "epoch-0010",
           fs::copy_options::recursive);
  {
    auto kept = metric_lines(killed);
    kept.pop_back();
    std::ofstream out(killed / "metrics.jsonl", std::ios::trunc);
    for (auto& l : kept) out << l.dump() << "\n";
  }
  {  // as if the first epochs ran on a machine whose oneDNN dispatched to another instruction set
    auto before = nlohmann::json::parse(slurp(killed / "config.json"));
    before["environment"]["onednn_cpu_isa"] = "sse41";
    std::ofstream(killed / "config.json") << before.dump(2);
  }
  ASSERT_EQ(run(kTinyRun + " --resume --out " + killed.string(), log), 0) << slurp(log);
  EXPECT_NE(slurp(log).find("resumed from"), std::string::npos) << slurp(log);
  EXPECT_NE(slurp(log).find("warning: --resume with onednn_cpu_isa"), std::string::npos) << slurp(log);
  auto resumed = metric_lines(killed);
  ASSERT_EQ(resumed.size(), lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    auto a = lines[i], b = resumed[i];
    a.erase("wall_seconds");
    b.erase("wall_seconds");
    EXPECT_EQ(a, b) << "measurement " << i << " differs after resume";
  }
  fs::remove_all(dir);
  fs::remove_all(killed);
  fs::remove_all(dir.string() + "_keep");
}

TEST(ExperimentCli, ProfilePrintsOpsAndLayersOfTheSecondEpoch) {
  if (!fs::exists(kData + "/mnist")) GTEST_SKIP() << "no " << kData << "/mnist";
  const fs::path dir = fs::temp_directory_path() / "collapse_cli_profile";
  fs::remove_all(dir);
  const std::string log = dir.string() + ".log";
  ASSERT_EQ(run("--dataset mnist --data-root " + kData + " --arch resnet --width 0.125 --per-class 8 "
                "--test-per-class 2 --epochs 2 --batch-size 16 --measure-epochs 2 --profile --out " + dir.string(),
                log),
            0)
      << slurp(log);
  const std::string out = slurp(log);
  EXPECT_NE(out.find("epoch 2, 5 training steps: profile"), std::string::npos) << out;
  for (const char* row : {"conv2d_forward", "conv2d_backward_weights", "cross_entropy_forward", "layer1.0.conv1",
                          "layer1.0.conv1 (backward)"})
    EXPECT_NE(out.find(row), std::string::npos) << row << " missing from\n" << out;
}
