#pragma once
// A run's folder: config.json, metrics.jsonl (one JSON object per measured epoch), summary.json,
// checkpoints/ and plots/. Every file is written atomically; metrics.jsonl is rewritten whole on each
// append so a killed run never leaves half a line.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace collapse::experiment {

// How a run may use its folder. A folder that holds a run (its config.json) is never reused by accident.
enum class FolderUse {
  fresh,      // the folder must not hold a run yet
  resume,     // it must hold one (config.json)
  overwrite,  // a run there is deleted first (only the files a run writes)
};

class RunFolder {
 public:
  // Creates the folder if needed and takes an exclusive lock on it (a lock file held with flock for this
  // object's life), so a second process on the same folder fails at once naming the holder's pid.
  RunFolder(std::string path, FolderUse use);
  ~RunFolder();
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;
  static bool holds_run(const std::string& path);
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string checkpoints() const { return file("checkpoints"); }

  void write_json(const std::string& name, const nlohmann::json& value) const;
  // The measured lines so far (empty when the file does not exist).
  std::vector<nlohmann::json> read_metrics() const;
  // Keeps only lines with epoch <= last_epoch (used on resume), then appends nothing.
  void truncate_metrics(int last_epoch) const;
  void append_metrics(const nlohmann::json& line) const;

 private:
  std::string path_;
  int lock_fd_ = -1;
};

// Versions, git commit, host, CPU and thread count, for config.json.
nlohmann::json environment_info();

}  // namespace collapse::experiment
