#include "experiments/support/run_folder.h"

#include <omp.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <dnnl.hpp>

#include "backends/cpu/conv2d_winograd.h"
#include "core/atomic_file.h"
#include "core/error.h"

namespace collapse::experiment {

RunFolder::RunFolder(std::string path) : path_(std::move(path)) { std::filesystem::create_directories(path_); }

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
          // Winograd changes the rounding of the cpu convolutions (backends/cpu/conv2d_winograd.h).
          {"cpu_conv_winograd", cpu_winograd_status()}};
}

}  // namespace collapse::experiment
