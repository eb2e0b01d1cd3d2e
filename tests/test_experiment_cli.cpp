// nc-experiment end to end, as a user runs it: flag errors, a tiny real run's files, and resume after a
// simulated kill giving the same measurements as the uninterrupted run.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "backends/device_query.h"
#include "core/safetensors.h"
#include "data/registry.h"
#include "nc/npy.h"

namespace fs = std::filesystem;
using namespace collapse;

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
// Shorter still, for the run-folder checks: 6 epochs of 5 steps.
// (without --epochs and --lr, which some tests change: a flag given twice is a usage error)
const std::string kShortRunBase = "--dataset mnist --data-root " + kData +
                                  " --arch resnet --depth 18 --width 0.125 --per-class 10 --test-per-class 10"
                                  " --batch-size 20 --lr-milestones 4,5 --measure-epochs 0,3,6"
                                  " --checkpoint-every 1 --quiet";
const std::string kShortRun = kShortRunBase + " --epochs 6 --lr 0.05";

// A safetensors file's tensors as name -> raw bytes (its metadata, such as checksums, left out).
std::map<std::string, std::vector<uint8_t>> state_bits(const fs::path& file) {
  std::map<std::string, std::vector<uint8_t>> out;
  for (const auto& [name, t] : load_safetensors(file.string())) {
    const Tensor c = t.contiguous();
    const auto* p = static_cast<const uint8_t*>(c.raw_data());
    out[name].assign(p, p + c.nbytes());
  }
  return out;
}

// The measurements without their wall-clock time, which differs between two runs of the same command.
std::vector<nlohmann::json> results(const fs::path& dir) {
  auto lines = metric_lines(dir);
  for (auto& l : lines) l.erase("wall_seconds");
  return lines;
}
}  // namespace

TEST(ExperimentCli, UnknownFlagAndBadValuesFailBeforeAnyWork) {
  const fs::path dir = fs::temp_directory_path() / "collapse_cli_errors";
  fs::remove_all(dir);
  const std::string log = (fs::temp_directory_path() / "collapse_cli_errors.log").string();
  EXPECT_NE(run("--no-such-flag --out " + dir.string(), log), 0);
  EXPECT_NE(slurp(log).find("no-such-flag"), std::string::npos) << slurp(log);
  EXPECT_NE(run("--dataset cifar11 --out " + dir.string(), log), 0);
  EXPECT_NE(slurp(log).find("cifar10"), std::string::npos) << slurp(log);  // lists the valid names
  // The depth is refused before the data is read: the data root does not even exist.
  EXPECT_EQ(run("--arch resnet --depth 19 --data-root /nonexistent --out " + dir.string(), log), 2);
  EXPECT_NE(slurp(log).find("resnet: depth 19 is not one of 18, 34"), std::string::npos) << slurp(log);
  EXPECT_EQ(run("--arch densenet --depth 41 --data-root /nonexistent --out " + dir.string(), log), 2);
  EXPECT_NE(slurp(log).find("densenet: depth 41"), std::string::npos) << slurp(log);
  EXPECT_NE(run("--lr-milestones 5,x --out " + dir.string(), log), 0);
  EXPECT_NE(slurp(log).find("--lr-milestones"), std::string::npos) << slurp(log);
  EXPECT_NE(run("--measure nope --out " + dir.string(), log), 0);
  EXPECT_NE(run("--dataset mnist --image-size 64 --out " + dir.string(), log), 0);
  EXPECT_NE(slurp(log).find("--image-size: only for imagenet"), std::string::npos) << slurp(log);
  EXPECT_NE(run("--dataset imagenet --image-size 8 --out " + dir.string(), log), 0);
  EXPECT_NE(slurp(log).find("--image-size: must be in [16, 1024]"), std::string::npos) << slurp(log);
  // Values that used to be taken silently (a negative count or seed became a default or 2^64 - 1).
  for (const std::string flag : {"--per-class -5", "--test-per-class -1", "--weight-decay -1", "--threads -3",
                                 "--seed -1", "--seed 0x10", "--width 1000", "--width 0", "--lr inf", "--lr nan",
                                 "--epochs 0", "--batch-size 0", "--checkpoint-every -2"}) {
    EXPECT_EQ(run(flag + " --out " + dir.string(), log), 2) << flag << "\n" << slurp(log);
    const std::string name = flag.substr(0, flag.find(' '));
    EXPECT_NE(slurp(log).find(name), std::string::npos) << flag << ": the message names the flag\n" << slurp(log);
  }
  EXPECT_EQ(run("--resume --overwrite --out " + dir.string(), log), 2) << slurp(log);
  if (!collapse::cuda_device_available()) {
    EXPECT_EQ(run("--device cuda --out " + dir.string(), log), 2) << slurp(log);
    EXPECT_NE(slurp(log).find("no CUDA device found"), std::string::npos) << slurp(log);
  }
  EXPECT_FALSE(fs::exists(dir / "config.json"));  // nothing was started
}

TEST(ExperimentCli, RunFolderIsNeverReusedByAccidentAndResumeKeepsTheRunsSettings) {
  if (!fs::exists(kData + "/mnist")) GTEST_SKIP() << "no " << kData << "/mnist";
  const fs::path dir = fs::temp_directory_path() / "collapse_cli_folder";
  fs::remove_all(dir);
  const std::string log = dir.string() + ".log";
  EXPECT_EQ(run(kTinyRun + " --resume --out " + dir.string(), log), 2) << slurp(log);  // nothing to resume
  EXPECT_NE(slurp(log).find("holds no run"), std::string::npos) << slurp(log);
  ASSERT_EQ(run(kShortRun + " --out " + dir.string(), log), 0) << slurp(log);
  const std::string metrics = slurp(dir / "metrics.jsonl");
  const auto first_results = results(dir);

  EXPECT_NE(run(kShortRun + " --out " + dir.string(), log), 0);  // a second run into the same folder
  EXPECT_NE(slurp(log).find("already holds a run"), std::string::npos) << slurp(log);
  EXPECT_EQ(slurp(dir / "metrics.jsonl"), metrics) << "the first run's results were touched";

  // --resume with a flag that would change the results: an error listing it; nothing is written.
  EXPECT_EQ(run(kShortRunBase + " --epochs 9 --lr 0.1 --resume --out " + dir.string(), log), 2) << slurp(log);
  EXPECT_NE(slurp(log).find("--epochs 9 (the run has 6)"), std::string::npos) << slurp(log);
  EXPECT_NE(slurp(log).find("--lr 0.1 (the run has 0.05)"), std::string::npos) << slurp(log);
  EXPECT_EQ(slurp(dir / "metrics.jsonl"), metrics);

  // --resume alone takes every setting from config.json (the defaults would be Fashion-MNIST, 350 epochs),
  // and records the resume with its thread count.
  ASSERT_EQ(run("--resume --threads 1 --quiet --out " + dir.string(), log), 0) << slurp(log);
  auto config = nlohmann::json::parse(slurp(dir / "config.json"));
  EXPECT_EQ(config["dataset"], "mnist");
  EXPECT_EQ(config["epochs"], 6);
  ASSERT_EQ(config["resumes"].size(), 1u) << config.dump(2);
  EXPECT_EQ(config["resumes"][0]["from_epoch"], 6);
  EXPECT_EQ(config["resumes"][0]["threads"], 1);
  EXPECT_EQ(slurp(dir / "metrics.jsonl"), metrics) << "a finished run resumed must stay as it was";

  // A run whose checkpoints are gone is not restarted silently over its metrics.
  fs::remove_all(dir / "checkpoints");
  EXPECT_EQ(run("--resume --out " + dir.string(), log), 1) << slurp(log);
  EXPECT_NE(slurp(log).find("holds no complete checkpoint"), std::string::npos) << slurp(log);
  EXPECT_EQ(slurp(dir / "metrics.jsonl"), metrics);

  // --overwrite starts again, deleting only what a run writes.
  std::ofstream(dir / "notes.txt") << "mine";
  ASSERT_EQ(run(kShortRun + " --overwrite --out " + dir.string(), log), 0) << slurp(log);
  EXPECT_EQ(results(dir), first_results);  // same seed, same results
  EXPECT_EQ(slurp(dir / "notes.txt"), "mine");
  EXPECT_FALSE(nlohmann::json::parse(slurp(dir / "config.json")).contains("resumes"));

  // A second process on a folder in use fails at once, naming the holder.
  const int fd = ::open((dir / ".lock").c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(run("--resume --out " + dir.string(), log), 1) << slurp(log);
  EXPECT_NE(slurp(log).find("another process is running in this folder"), std::string::npos) << slurp(log);
  ::close(fd);
  fs::remove_all(dir);
}

TEST(ExperimentCli, DivergenceStopsTheRunWithStatusDivergedAndNoCheckpointOfIt) {
  if (!fs::exists(kData + "/mnist")) GTEST_SKIP() << "no " << kData << "/mnist";
  const fs::path dir = fs::temp_directory_path() / "collapse_cli_diverged";
  fs::remove_all(dir);
  const std::string log = dir.string() + ".log";
  EXPECT_EQ(run(kShortRunBase + " --epochs 6 --lr 1e6 --out " + dir.string(), log), 3) << slurp(log);
  const std::string out = slurp(log);
  EXPECT_NE(out.find("training diverged"), std::string::npos) << out;
  const auto summary = nlohmann::json::parse(slurp(dir / "summary.json"));
  EXPECT_EQ(summary["status"], "diverged");
  EXPECT_NE(summary["diverged"].get<std::string>().find("diverged"), std::string::npos);
  // Nothing from the epoch where it diverged, or later, was measured or checkpointed.
  const std::string why = summary["diverged"].get<std::string>();
  const auto at = why.find("epoch ");
  ASSERT_NE(at, std::string::npos) << why;
  const int diverged_epoch = std::stoi(why.substr(at + 6));
  for (const auto& entry : fs::directory_iterator(dir / "checkpoints"))
    EXPECT_LT(std::stoi(entry.path().filename().string().substr(6, 4)), diverged_epoch) << entry.path();
  for (const auto& line : metric_lines(dir)) EXPECT_LT(line["epoch"].get<int>(), diverged_epoch) << line.dump();
  fs::remove_all(dir);
}

TEST(ExperimentCli, SigtermStopsAtAStepWritesACheckpointAndTheResumeMatches) {
  if (!fs::exists(kData + "/mnist")) GTEST_SKIP() << "no " << kData << "/mnist";
  const fs::path whole = fs::temp_directory_path() / "collapse_cli_whole", stopped = fs::temp_directory_path() / "collapse_cli_stopped";
  fs::remove_all(whole);
  fs::remove_all(stopped);
  const std::string log = stopped.string() + ".log";
  ASSERT_EQ(run(kShortRun + " --out " + whole.string(), log), 0) << slurp(log);

  // The same run, sent SIGTERM once its first measurement is written (it is training then).
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::freopen(log.c_str(), "w", stdout);
    ::setenv("OMP_NUM_THREADS", "1", 1);
    const std::string cmd = "exec " + kBinary + " " + kShortRun + " --out " + stopped.string();
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  for (int i = 0; i < 600 && !fs::exists(stopped / "metrics.jsonl"); ++i) ::usleep(50'000);
  ::kill(pid, SIGTERM);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << slurp(log);
  EXPECT_EQ(WEXITSTATUS(status), 143) << slurp(log);
  const std::string out = slurp(log);
  const auto at = out.find("resume with:\n  ");
  ASSERT_NE(at, std::string::npos) << out;
  const std::string command = out.substr(at + 15, out.find('\n', at + 15) - (at + 15));
  EXPECT_NE(command.find("--resume"), std::string::npos) << command;
  ASSERT_EQ(std::system(("OMP_NUM_THREADS=1 " + command + " > " + log + " 2>&1").c_str()), 0) << slurp(log);
  const auto a = results(whole), b = results(stopped);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "measurement " << i << " differs after the stop and resume";
  fs::remove_all(whole);
  fs::remove_all(stopped);
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
  // Provenance: the folder read, its files with sizes and checksums, the normalisation used.
  const auto& data = config["data"];
  EXPECT_NE(data["dir"].get<std::string>().find("mnist"), std::string::npos) << data.dump(2);
  ASSERT_FALSE(data["files"].empty()) << data.dump(2);
  for (const auto& f : data["files"]) {
    EXPECT_GT(f["bytes"].get<int64_t>(), 0) << f.dump();
    EXPECT_EQ(f["crc32"].get<std::string>().size(), 8u) << f.dump();
  }
  ASSERT_EQ(data["normalisation"]["mean"].size(), 1u);
  EXPECT_GT(data["normalisation"]["std"][0].get<double>(), 0.1);
  EXPECT_EQ(config["checkpoint_every"], 0);
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
  {  // which examples it trained on: 10 per class, distinct, ascending, labelled as the official file says
    const std::vector<int64_t> kept = nc::read_npy((dir / "train_indices.npy").string()).to_int64();
    const RawDataset all = read_raw_split("mnist", kData, Split::train);
    ASSERT_EQ(kept.size(), 100u);
    std::vector<int> per_class(10, 0);
    for (size_t i = 0; i < kept.size(); ++i) {
      ASSERT_TRUE(kept[i] >= 0 && kept[i] < all.n) << kept[i];
      if (i > 0) {
        EXPECT_LT(kept[i - 1], kept[i]);
      }
      ++per_class[static_cast<size_t>(all.labels[static_cast<size_t>(kept[i])])];
    }
    EXPECT_EQ(per_class, std::vector<int>(10, 10));
  }
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
  // The starting point is the weights before the first step: epoch 0's checkpoint, kept by this run.
  EXPECT_EQ(state_bits(dir / "initial_model.safetensors"),
            state_bits(fs::path(dir.string() + "_keep") / "checkpoints" / "epoch-0000" / "model.safetensors"));
  fs::remove_all(killed / "checkpoints" / "epoch-0010");  // kept as the previous one: take --keep-checkpoints' copy
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
  // Layer rows: the 30 costliest are listed, and which they are depends on the build (under the sanitizers
  // batch norm dominates), so only rows of the first block, forward and backward, are required.
  for (const char* row : {"conv2d_forward", "conv2d_backward", "cross_entropy_forward", "  layer1.0.",
                          " (backward)"})
    EXPECT_NE(out.find(row), std::string::npos) << row << " missing from\n" << out;
}
