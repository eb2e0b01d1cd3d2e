#include "experiments/support/run_folder.h"

#include <fcntl.h>
#include <omp.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <filesystem>
#include <fstream>
#include <thread>

#include <dnnl.hpp>

#include "backends/arithmetic_settings.h"
#include "core/atomic_file.h"
#include "core/available_cpus.h"
#include "core/blocked_layout.h"
#include "core/error.h"
#include "core/openmp_policy.h"
#include "layers/batch_norm_fold.h"
#include "git_commit.h"  // generated at build time: COLLAPSE_GIT_COMMIT

namespace collapse::experiment {

namespace {
// What a run writes in its folder; --overwrite deletes these and nothing else.
const char* const kRunFiles[] = {"config.json", "metrics.jsonl", "summary.json", "geometry.json", "checkpoints",
                                 "plots", "features", "train_indices.npy", "initial_model.safetensors"};
const char* const kLockFile = ".lock";

// The pid written in the lock file by its holder ("" when unreadable).
std::string lock_holder(const std::string& lock_path) {
  std::ifstream in(lock_path);
  std::string pid;
  std::getline(in, pid);
  return pid;
}
}  // namespace

bool RunFolder::holds_run(const std::string& path) { return std::filesystem::exists(path + "/config.json"); }

RunFolder::RunFolder(std::string path, FolderUse use) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(path_, ec);
  COLLAPSE_CHECK(!ec, "--out ", path_, ": cannot create the folder (", ec.message(), ")");
  const std::string lock_path = file(kLockFile);
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  COLLAPSE_CHECK(lock_fd_ >= 0, lock_path, ": cannot open the run's lock file (", std::strerror(errno), ")");
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const std::string holder = lock_holder(lock_path);
    ::close(lock_fd_);
    lock_fd_ = -1;
    COLLAPSE_FAIL("--out ", path_, ": another process is running in this folder (pid ",
                  holder.empty() ? "unknown" : holder, "); two runs in one folder would corrupt it");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(lock_fd_, 0) != 0 || ::write(lock_fd_, pid.data(), pid.size()) != static_cast<ssize_t>(pid.size()))
    std::fprintf(stderr, "warning: %s: could not record this process's pid\n", lock_path.c_str());
  const bool has_run = holds_run(path_);
  if (use == FolderUse::fresh)
    COLLAPSE_CHECK(!has_run, "--out ", path_, ": the folder already holds a run (config.json); give --resume to "
                   "continue it or --overwrite to delete it and start again");
  if (use == FolderUse::resume)
    COLLAPSE_CHECK(has_run, "--resume: ", path_, " holds no run (no config.json); leave out --resume to start one");
  if (use == FolderUse::overwrite)
    for (const char* name : kRunFiles) fs::remove_all(file(name));
}

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void RunFolder::write_json(const std::string& name, const nlohmann::json& value) const {
  write_text_file_atomically(file(name), value.dump(2) + "\n");
}

std::vector<nlohmann::json> RunFolder::read_metrics() const {
  std::vector<nlohmann::json> lines;
  std::ifstream in(file("metrics.jsonl"));
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    try {
      lines.push_back(nlohmann::json::parse(line));
    } catch (const std::exception& e) {
      COLLAPSE_FAIL(file("metrics.jsonl"), ": line ", number, " is not JSON: ", e.what());
    }
  }
  return lines;
}

namespace {
void write_lines(const std::string& path, const std::vector<nlohmann::json>& lines) {
  std::string text;
  for (const auto& l : lines) text += l.dump() + "\n";
  write_text_file_atomically(path, text);
}
}  // namespace

void RunFolder::truncate_metrics(int last_epoch) const {
  std::vector<nlohmann::json> kept;
  for (auto& l : read_metrics())
    if (l.value("epoch", -1) <= last_epoch) kept.push_back(l);
  write_lines(file("metrics.jsonl"), kept);
}

void RunFolder::append_metrics(const nlohmann::json& line) const {
  auto lines = read_metrics();
  lines.push_back(line);
  write_lines(file("metrics.jsonl"), lines);
}

// The most capable instruction set oneDNN dispatches to here (the hardware's, capped by DNNL_MAX_CPU_ISA):
// it picks the kernels, so it decides the rounding. Two machines with the same one and the same thread
// count give the same numbers; others give statistically equivalent ones.
std::string onednn_cpu_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    case dnnl::cpu_isa::all: return "all";
    default: return "unknown";
  }
}

nlohmann::json environment_info() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  std::string cpu;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0) {
      cpu = line.substr(line.find(':') + 2);
      break;
    }
  const dnnl_version_t* v = dnnl_version();
  return {{"collapse_git_commit", COLLAPSE_GIT_COMMIT},
          {"compiler", __VERSION__},
          {"onednn", std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch)},
          {"onednn_cpu_isa", onednn_cpu_isa()},
          {"host", host},
          {"cpu", cpu},
          {"hardware_threads", std::thread::hardware_concurrency()},
          {"omp_max_threads", omp_get_max_threads()},
          {"available_cpus", available_cpus().describe()},
          {"omp_wait_policy", openmp_wait_policy()},
          // Winograd changes the rounding of the cpu convolutions (backends/arithmetic_settings.h).
          {"cpu_conv_winograd", cpu_winograd_status()},
          // Memory only: saving Winograd inputs blocked changes no number (core/blocked_layout.h).
          {"blocked_activations", blocked_activations_status()},
          // Evaluation's batch norms folded into the convolutions: another rounding (layers/batch_norm_fold.h).
          {"eval_batch_norm_folded", batch_norm_folding_status()}};
}

}  // namespace collapse::experiment
