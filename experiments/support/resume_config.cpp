#include "experiments/support/resume_config.h"

#include <fstream>
#include <functional>
#include <limits>
#include <type_traits>

#include "core/error.h"

namespace collapse::experiment {
namespace {

const nlohmann::json& field(const nlohmann::json& j, const char* key, const std::string& file) {
  COLLAPSE_CHECK(j.contains(key), file, ": field '", key, "' is missing");
  return j[key];
}

template <class Int>
Int integer(const nlohmann::json& j, const char* key, const std::string& file) {
  const nlohmann::json& v = field(j, key, file);
  if (v.is_null()) return 0;  // growth_rate, image_size: null is "the default"
  COLLAPSE_CHECK(v.is_number_integer(), file, ": field '", key, "' must be an integer, it is ", v.dump());
  if constexpr (std::is_unsigned_v<Int>) {
    COLLAPSE_CHECK(v.is_number_unsigned(), file, ": field '", key, "' must be >= 0, it is ", v.dump());
    return static_cast<Int>(v.get<uint64_t>());
  } else {
    const int64_t x = v.get<int64_t>();
    COLLAPSE_CHECK(x >= std::numeric_limits<Int>::min() && x <= std::numeric_limits<Int>::max(), file, ": field '",
                   key, "' = ", x, " is out of range");
    return static_cast<Int>(x);
  }
}

double number(const nlohmann::json& j, const char* key, const std::string& file) {
  const nlohmann::json& v = field(j, key, file);
  COLLAPSE_CHECK(v.is_number(), file, ": field '", key, "' must be a number, it is ", v.dump());
  return v.get<double>();
}

std::string text(const nlohmann::json& j, const char* key, const std::string& file) {
  const nlohmann::json& v = field(j, key, file);
  COLLAPSE_CHECK(v.is_string(), file, ": field '", key, "' must be a string, it is ", v.dump());
  return v.get<std::string>();
}

std::vector<int> integers(const nlohmann::json& j, const char* key, const std::string& file) {
  const nlohmann::json& v = field(j, key, file);
  COLLAPSE_CHECK(v.is_array(), file, ": field '", key, "' must be a list of integers, it is ", v.dump());
  std::vector<int> out;
  for (const auto& x : v) {
    COLLAPSE_CHECK(x.is_number_integer() && x.get<int64_t>() >= 0 && x.get<int64_t>() <= 10'000'000, file,
                   ": field '", key, "' holds ", x.dump(), ", not an epoch number");
    out.push_back(x.get<int>());
  }
  return out;
}

std::vector<std::string> texts(const nlohmann::json& j, const char* key, const std::string& file) {
  const nlohmann::json& v = field(j, key, file);
  COLLAPSE_CHECK(v.is_array(), file, ": field '", key, "' must be a list of names, it is ", v.dump());
  std::vector<std::string> out;
  for (const auto& x : v) {
    COLLAPSE_CHECK(x.is_string(), file, ": field '", key, "' holds ", x.dump(), ", not a name");
    out.push_back(x.get<std::string>());
  }
  return out;
}

// The settings that decide the numbers, each with its flag and its key in config.json (to_json's).
struct ResultField {
  const char* flag;
  const char* key;
  std::function<void(ExperimentConfig& to, const ExperimentConfig& from)> take;
};
#define COLLAPSE_RESULT_FIELD(flag, member) \
  ResultField { flag, #member, [](ExperimentConfig& to, const ExperimentConfig& from) { to.member = from.member; } }
const std::vector<ResultField>& result_fields() {
  static const std::vector<ResultField> fields = {
      COLLAPSE_RESULT_FIELD("--dataset", dataset),       COLLAPSE_RESULT_FIELD("--arch", arch),
      COLLAPSE_RESULT_FIELD("--depth", depth),           COLLAPSE_RESULT_FIELD("--width", width),
      COLLAPSE_RESULT_FIELD("--growth-rate", growth_rate), COLLAPSE_RESULT_FIELD("--per-class", per_class),
      COLLAPSE_RESULT_FIELD("--test-per-class", test_per_class), COLLAPSE_RESULT_FIELD("--image-size", image_size),
      COLLAPSE_RESULT_FIELD("--epochs", epochs),         COLLAPSE_RESULT_FIELD("--lr", lr),
      COLLAPSE_RESULT_FIELD("--momentum", momentum),     COLLAPSE_RESULT_FIELD("--weight-decay", weight_decay),
      COLLAPSE_RESULT_FIELD("--batch-size", batch_size), COLLAPSE_RESULT_FIELD("--lr-milestones", lr_milestones),
      COLLAPSE_RESULT_FIELD("--measure-epochs", measure_epochs), COLLAPSE_RESULT_FIELD("--measure", measurements),
      COLLAPSE_RESULT_FIELD("--seed", seed),             COLLAPSE_RESULT_FIELD("", tpt_accuracy),
      COLLAPSE_RESULT_FIELD("--sync-bn", sync_bn),       COLLAPSE_RESULT_FIELD("--loss", loss),
      COLLAPSE_RESULT_FIELD("--label-smoothing", label_smoothing), COLLAPSE_RESULT_FIELD("--focal-gamma", focal_gamma),
      COLLAPSE_RESULT_FIELD("--mse-target", mse_target),
      COLLAPSE_RESULT_FIELD("--fixed-etf-classifier", fixed_etf_classifier),
      COLLAPSE_RESULT_FIELD("--imbalance", imbalance_ratio),
      COLLAPSE_RESULT_FIELD("--imbalance-profile", imbalance_profile)};
  return fields;
}
#undef COLLAPSE_RESULT_FIELD

}  // namespace

nlohmann::json read_config_file(const std::string& file) {
  std::ifstream in(file);
  COLLAPSE_CHECK(in.good(), file, ": cannot be read");
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  COLLAPSE_CHECK(!j.is_discarded() && j.is_object(), file, ": not a JSON object (a damaged run config)");
  return j;
}

ExperimentConfig config_from_json(const nlohmann::json& j, const std::string& file) {
  ExperimentConfig c;
  c.dataset = text(j, "dataset", file);
  c.data_root = text(j, "data_root", file);
  c.arch = text(j, "arch", file);
  c.depth = integer<int>(j, "depth", file);
  c.width = number(j, "width", file);
  c.growth_rate = integer<int64_t>(j, "growth_rate", file);
  c.per_class = integer<int64_t>(j, "per_class", file);
  c.test_per_class = integer<int64_t>(j, "test_per_class", file);
  c.image_size = integer<int64_t>(j, "image_size", file);
  c.epochs = integer<int>(j, "epochs", file);
  c.lr = number(j, "lr", file);
  c.momentum = number(j, "momentum", file);
  c.weight_decay = number(j, "weight_decay", file);
  c.batch_size = integer<int64_t>(j, "batch_size", file);
  c.lr_milestones = integers(j, "lr_milestones", file);
  c.measure_epochs = integers(j, "measure_epochs", file);
  c.seed = integer<uint64_t>(j, "seed", file);
  c.threads = integer<int>(j, "threads", file);
  c.device = text(j, "device", file);
  c.out = text(j, "out", file);
  c.tpt_accuracy = number(j, "tpt_accuracy", file);
  c.measurements = texts(j, "measurements", file);
  c.measurements_given = true;
  // Runs from before data parallelism have no sync_bn field: theirs was per-process batch norm.
  if (j.contains("sync_bn")) {
    COLLAPSE_CHECK(j["sync_bn"].is_boolean(), file, ": field 'sync_bn' must be true or false, it is ", j["sync_bn"].dump());
    c.sync_bn = j["sync_bn"].get<bool>();
  }
  if (j.contains("fixed_etf_classifier")) {
    COLLAPSE_CHECK(j["fixed_etf_classifier"].is_boolean(), file, ": field 'fixed_etf_classifier' must be true or false");
    c.fixed_etf_classifier = j["fixed_etf_classifier"].get<bool>();
  }
  if (j.contains("imbalance_ratio")) {
    c.imbalance_ratio = number(j, "imbalance_ratio", file);
    c.imbalance_profile = text(j, "imbalance_profile", file);
  }
  // Runs from before the loss was a choice wrote a description of the cross-entropy.
  if (j.contains("loss") && j["loss"].is_string() && j["loss"].get<std::string>().rfind("cross-entropy", 0) != 0) {
    c.loss = text(j, "loss", file);
    c.label_smoothing = number(j, "label_smoothing", file);
    c.focal_gamma = number(j, "focal_gamma", file);
    c.mse_target = number(j, "mse_target", file);
  }
  return c;
}

void merge_saved_config(ExperimentConfig& c, const std::set<std::string>& given, const nlohmann::json& saved_json,
                        const std::string& file) {
  const ExperimentConfig saved = config_from_json(saved_json, file);
  const nlohmann::json now = to_json(c), was = to_json(saved);
  std::string differences;
  for (const ResultField& f : result_fields()) {
    if (*f.flag && given.count(f.flag)) {
      if (now[f.key] != was[f.key])
        differences += detail::concat("\n  ", f.flag, " ", now[f.key].dump(), " (the run has ", was[f.key].dump(), ")");
    } else {
      f.take(c, saved);
    }
  }
  COLLAPSE_CHECK(differences.empty(), "--resume: these flags differ from the run's ", file,
                 " and would change its results:", differences,
                 "\nleave them out (the run's values are used), or start a new run in another --out");
  c.measurements_given = true;
  // Speed and output only: the command line's value when given, else the run's.
  if (!given.count("--data-root")) c.data_root = saved.data_root;
  if (!given.count("--device")) c.device = saved.device;
  if (!given.count("--threads")) c.threads = saved.threads;
}

}  // namespace collapse::experiment
