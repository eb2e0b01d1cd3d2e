// Checkpoints (see trainer.h): written atomically file by file, the trainer state last, each tensor's
// CRC-32 in the file's metadata, verified before anything is loaded into the model.
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/safetensors.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace collapse {
namespace {
// The metadata key holding a tensor's checksum ("crc32:layer1.0.conv1.weight"); safetensors metadata is
// a string-to-string map, so PyTorch still loads the file.
const std::string kChecksumPrefix = "crc32:";

// "epoch-0012", or "epoch-0012-step-000040" for a stop 40 batches into epoch 13; names sort in training order.
std::string checkpoint_dir_name(const CheckpointState& state) {
  char buf[64];
  if (state.step == 0) std::snprintf(buf, sizeof buf, "epoch-%04d", state.epoch);
  else std::snprintf(buf, sizeof buf, "epoch-%04d-step-%06lld", state.epoch, static_cast<long long>(state.step));
  return buf;
}
std::string optional_str(std::optional<int> v) { return v ? std::to_string(*v) : ""; }

// CRC-32 of the tensor's bytes as stored (row-major, little-endian), in hex.
std::string payload_crc32(const Tensor& t) {
  const Tensor host = t.to(Device::cpu()).contiguous();
  uLong crc = crc32_z(0L, Z_NULL, 0);
  crc = crc32_z(crc, static_cast<const Bytef*>(host.raw_data()), host.nbytes());
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08lx", static_cast<unsigned long>(crc));
  return buf;
}

std::map<std::string, std::string> with_checksums(const NamedTensors& tensors, std::map<std::string, std::string> meta) {
  for (const auto& [name, t] : tensors) meta[kChecksumPrefix + name] = payload_crc32(t);
  return meta;
}

// Every tensor's checksum matches and every floating value is finite; the error names the file and tensor.
// Files from before checksums were written (no crc32: key at all) are checked for finiteness only.
void verify_tensors(const std::string& file, const NamedTensors& tensors, const std::map<std::string, std::string>& meta) {
  const bool has_checksums = std::any_of(meta.begin(), meta.end(), [](const auto& kv) {
    return kv.first.rfind(kChecksumPrefix, 0) == 0;
  });
  for (const auto& [name, t] : tensors) {
    if (has_checksums) {
      const auto it = meta.find(kChecksumPrefix + name);
      COLLAPSE_CHECK(it != meta.end(), file, ": tensor '", name, "' has no checksum in the metadata");
      COLLAPSE_CHECK(it->second == payload_crc32(t), file, ": tensor '", name, "' does not match its checksum (",
                     it->second, "): the file is corrupt");
    }
    if (t.dtype() != DType::f32 && t.dtype() != DType::f64) continue;
    const std::vector<double> values = t.to_double_vector();
    for (size_t i = 0; i < values.size(); ++i)
      COLLAPSE_CHECK(std::isfinite(values[i]), file, ": tensor '", name, "' holds ", values[i], " at index ", i,
                     ": a checkpoint of diverged weights cannot be resumed");
  }
}

// An epoch (or step) number from the metadata: decimal digits only, at most 10^7 ("" is no value).
std::optional<int> parse_epoch(const std::map<std::string, std::string>& meta, const std::string& key,
                               const std::string& file) {
  const auto it = meta.find(key);
  if (it == meta.end() || it->second.empty()) return std::nullopt;
  const std::string& text = it->second;
  COLLAPSE_CHECK(text.size() <= 8 && text.find_first_not_of("0123456789") == std::string::npos, file,
                 ": metadata '", key, "' = '", text, "' is not an epoch number");
  const int value = std::stoi(text);
  COLLAPSE_CHECK(value <= 10'000'000, file, ": metadata '", key, "' = ", value, " is out of range");
  return value;
}

// The complete checkpoints under `dir` (trainer.safetensors written), newest first.
std::vector<fs::path> complete_checkpoints(const std::string& dir) {
  std::vector<fs::path> found;
  if (!fs::is_directory(dir)) return found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("epoch-", 0) == 0 && fs::exists(entry.path() / "trainer.safetensors"))
      found.push_back(entry.path());
  }
  std::sort(found.begin(), found.end(), [](const fs::path& a, const fs::path& b) { return a.filename() > b.filename(); });
  return found;
}
}  // namespace

void save_checkpoint(const std::string& dir, Module& model, const SGD& optimizer, const CheckpointState& state,
                     bool keep_older) {
  const fs::path target = fs::path(dir) / checkpoint_dir_name(state);
  fs::create_directories(target);
  const NamedTensors weights = model.state_dict();
  save_safetensors((target / "model.safetensors").string(), weights, with_checksums(weights, {{"format", "pt"}}));
  std::map<std::string, std::string> meta = state.extra;
  meta["epoch"] = std::to_string(state.epoch);
  meta["step"] = std::to_string(state.step);
  meta["tpt_onset"] = optional_str(state.tpt_onset);
  meta["first_zero_error"] = optional_str(state.first_zero_error);
  meta["lr"] = std::to_string(optimizer.lr());
  const NamedTensors buffers = optimizer.state_dict();
  save_safetensors((target / "trainer.safetensors").string(), buffers, with_checksums(buffers, meta));
  if (keep_older) return;
  // Keeps this one and the newest complete one before it: if this one is damaged later, resume falls back.
  const std::vector<fs::path> complete = complete_checkpoints(dir);
  std::optional<fs::path> previous;
  for (const auto& p : complete)
    if (p.filename() != target.filename() && p.filename() < target.filename()) {
      previous = p;
      break;
    }
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("epoch-", 0) == 0 && name != target.filename().string() &&
        (!previous || entry.path().filename() != previous->filename()))
      fs::remove_all(entry.path());
  }
}

std::optional<std::string> latest_checkpoint(const std::string& dir) {
  const std::vector<fs::path> complete = complete_checkpoints(dir);
  if (complete.empty()) return std::nullopt;
  return complete.front().string();
}

CheckpointState load_checkpoint(const std::string& checkpoint_dir, Module& model, SGD& optimizer) {
  const fs::path d(checkpoint_dir);
  // Both files are read and verified before either is applied, so a bad checkpoint changes nothing.
  const std::string model_file = (d / "model.safetensors").string(), trainer_file = (d / "trainer.safetensors").string();
  std::map<std::string, std::string> model_meta, meta;
  const NamedTensors weights = load_safetensors(model_file, &model_meta);
  verify_tensors(model_file, weights, model_meta);
  const NamedTensors buffers = load_safetensors(trainer_file, &meta);
  verify_tensors(trainer_file, buffers, meta);
  CheckpointState state;
  const std::optional<int> epoch = parse_epoch(meta, "epoch", trainer_file);
  COLLAPSE_CHECK(epoch.has_value(), trainer_file, ": no epoch in the metadata");
  state.epoch = *epoch;
  state.step = parse_epoch(meta, "step", trainer_file).value_or(0);  // absent in checkpoints before mid-epoch stops
  state.tpt_onset = parse_epoch(meta, "tpt_onset", trainer_file);
  state.first_zero_error = parse_epoch(meta, "first_zero_error", trainer_file);
  for (const auto& [key, value] : meta)
    if (key.rfind(kChecksumPrefix, 0) != 0) state.extra[key] = value;
  try {
    model.load_state_dict(weights);
  } catch (const Error& e) {
    COLLAPSE_FAIL(model_file, ": ", e.what());
  }
  try {
    optimizer.load_state_dict(buffers);
  } catch (const Error& e) {
    COLLAPSE_FAIL(trainer_file, ": ", e.what());
  }
  return state;
}

std::optional<LoadedCheckpoint> load_latest_valid_checkpoint(const std::string& dir, Module& model, SGD& optimizer) {
  const std::vector<fs::path> candidates = complete_checkpoints(dir);
  std::string errors;
  for (const fs::path& candidate : candidates) {
    try {
      return LoadedCheckpoint{candidate.string(), load_checkpoint(candidate.string(), model, optimizer)};
    } catch (const Error& e) {
      std::printf("warning: skipping checkpoint %s: %s\n", candidate.c_str(), e.what());
      errors += std::string("\n  ") + e.what();
    }
  }
  COLLAPSE_CHECK(candidates.empty(), dir, ": none of the ", candidates.size(), " checkpoints is usable:", errors);
  return std::nullopt;
}

}  // namespace collapse
