#pragma once
// A run's folder: config.json, metrics.jsonl (one JSON object per measured epoch), summary.json,
// checkpoints/ and plots/. Every file is written atomically; metrics.jsonl is rewritten whole on each
// append so a killed run never leaves half a line.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace collapse::experiment {

class RunFolder {
 public:
  explicit RunFolder(std::string path);
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
};

// Versions, git commit, host, CPU and thread count, for config.json.
nlohmann::json environment_info();

}  // namespace collapse::experiment
