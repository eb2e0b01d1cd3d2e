#pragma once
// --resume continues the run its folder holds, with that run's settings: config.json is read strictly
// (every field present with its type; errors name the file and field), flags not given take the run's
// values, and a given flag that would change the results is an error listing each difference. Flags that
// change only speed or output (threads, quiet, export, profile, device, data root) may differ; the run's
// config.json records each resume with what it ran with.
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "experiments/support/protocol.h"

namespace collapse::experiment {

// The settings a config.json holds (as written by to_json); `file` names it in errors.
ExperimentConfig config_from_json(const nlohmann::json& saved, const std::string& file);

// Merges the run's saved settings into `config` (resolved from the command line); `given` holds the long
// names of the flags given ("--epochs").
void merge_saved_config(ExperimentConfig& config, const std::set<std::string>& given, const nlohmann::json& saved,
                        const std::string& file);

// Reads `file` as JSON; an error names the file.
nlohmann::json read_config_file(const std::string& file);

}  // namespace collapse::experiment
