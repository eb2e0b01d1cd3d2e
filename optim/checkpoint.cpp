// Checkpoints (see trainer.h): written atomically file by file, the trainer state last.
#include <cstdio>
#include <filesystem>

#include "core/safetensors.h"
#include "optim/trainer.h"

namespace fs = std::filesystem;

namespace collapse {
namespace {
std::string epoch_dir_name(int epoch) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "epoch-%04d", epoch);
  return buf;
}
std::string optional_str(std::optional<int> v) { return v ? std::to_string(*v) : ""; }
std::optional<int> parse_optional(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end() || it->second.empty()) return std::nullopt;
  return std::stoi(it->second);
}
}  // namespace

void save_checkpoint(const std::string& dir, Network& model, const SGD& optimizer, const CheckpointState& state,
                     bool keep_older) {
  const fs::path target = fs::path(dir) / epoch_dir_name(state.epoch);
  fs::create_directories(target);
  save_safetensors((target / "model.safetensors").string(), model.state_dict(), {{"format", "pt"}});
  std::map<std::string, std::string> meta = state.extra;
  meta["epoch"] = std::to_string(state.epoch);
  meta["tpt_onset"] = optional_str(state.tpt_onset);
  meta["first_zero_error"] = optional_str(state.first_zero_error);
  meta["lr"] = std::to_string(optimizer.lr());
  save_safetensors((target / "trainer.safetensors").string(), optimizer.state_dict(), meta);
  if (keep_older) return;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("epoch-", 0) == 0 && name != target.filename().string())
      fs::remove_all(entry.path());
  }
}

std::optional<std::string> latest_checkpoint(const std::string& dir) {
  if (!fs::is_directory(dir)) return std::nullopt;
  std::optional<std::string> best;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("epoch-", 0) != 0) continue;
    if (!fs::exists(entry.path() / "trainer.safetensors")) continue;  // interrupted while writing
    if (!best || name > fs::path(*best).filename().string()) best = entry.path().string();
  }
  return best;
}

CheckpointState load_checkpoint(const std::string& checkpoint_dir, Network& model, SGD& optimizer) {
  const fs::path d(checkpoint_dir);
  NamedTensors weights = load_safetensors((d / "model.safetensors").string());
  try {
    model.load_state_dict(weights);
  } catch (const Error& e) {
    COLLAPSE_FAIL((d / "model.safetensors").string(), ": ", e.what());
  }
  std::map<std::string, std::string> meta;
  NamedTensors opt = load_safetensors((d / "trainer.safetensors").string(), &meta);
  try {
    optimizer.load_state_dict(opt);
  } catch (const Error& e) {
    COLLAPSE_FAIL((d / "trainer.safetensors").string(), ": ", e.what());
  }
  CheckpointState state;
  COLLAPSE_CHECK(meta.count("epoch"), (d / "trainer.safetensors").string(), ": no epoch in the metadata");
  state.epoch = std::stoi(meta["epoch"]);
  state.tpt_onset = parse_optional(meta, "tpt_onset");
  state.first_zero_error = parse_optional(meta, "first_zero_error");
  state.extra = meta;
  return state;
}

}  // namespace collapse
