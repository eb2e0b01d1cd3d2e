#include "experiments/support/summary.h"

#include <algorithm>

namespace collapse::experiment {

bool below_tpt_threshold(double train_error, double accuracy_threshold) {
  return !TerminalPhaseTracker(accuracy_threshold).accurate_enough(train_error);
}

nlohmann::json tpt_interruptions(const std::vector<nlohmann::json>& lines, const TerminalPhaseTracker& tpt) {
  nlohmann::json out = nlohmann::json::array();
  const nlohmann::json* previous = nullptr;
  for (const auto& l : lines) {
    const int epoch = l["epoch"].get<int>();
    if (l.contains("train_error") && l["train_error"].is_number() &&
        tpt.interrupted_by(epoch, l["train_error"].get<double>()))
      out.push_back({{"epoch", epoch},
                     {"train_error", l["train_error"]},
                     {"loss_before", previous ? (*previous).value("train_loss", nlohmann::json()) : nlohmann::json()},
                     {"loss_after", l.value("train_loss", nlohmann::json())}});
    previous = &l;
  }
  return out;
}

bool lr_decayed_before_tpt(const std::vector<int>& milestones, std::optional<int> onset, int last_epoch) {
  if (milestones.empty()) return false;
  // Epochs after the first milestone train at the decayed rate (MultiStepLR::lr_for_epoch), so an onset
  // measured after it was reached at least partly at the lower rate.
  const int first = *std::min_element(milestones.begin(), milestones.end());
  return last_epoch > first && (!onset || *onset > first);
}

namespace {

// After the last interruption: from the first measurement back above the threshold to the end (null
// when the run never got back, or got back only at the last measurement).
nlohmann::json last_stretch(const std::vector<nlohmann::json>& lines, int last_break, const TerminalPhaseTracker& tpt) {
  const auto from = std::find_if(lines.begin(), lines.end(), [&](const nlohmann::json& l) {
    const nlohmann::json error = l.value("train_error", nlohmann::json());
    return l["epoch"].get<int>() > last_break && error.is_number() && tpt.accurate_enough(error.get<double>());
  });
  const auto& last = lines.back();
  if (from == lines.end() || &*from == &last || !from->value("nc1", nlohmann::json()).is_number() ||
      !last.value("nc1", nlohmann::json()).is_number())
    return nullptr;
  return {{"from_epoch", (*from)["epoch"]},
          {"to_epoch", last["epoch"]},
          {"nc1_reduction", (*from)["nc1"].get<double>() / last["nc1"].get<double>()}};
}

}  // namespace

// Table 1 of the paper and the final NC values, from the measured lines.
nlohmann::json make_summary(const std::vector<nlohmann::json>& lines, const TerminalPhaseTracker& tpt,
                            const ExperimentConfig& c, const std::vector<int64_t>& train_class_counts) {
  nlohmann::json s = {{"dataset", c.dataset}, {"arch", c.arch}, {"depth", c.depth}, {"width", c.width},
                      {"epochs", c.epochs}, {"lr_milestones", c.lr_milestones}, {"seed", c.seed}};
  const auto [fewest, most] = std::minmax_element(train_class_counts.begin(), train_class_counts.end());
  if (fewest != train_class_counts.end()) {
    s["train_images_per_class"] = {{"min", *fewest}, {"max", *most}};
    s["train_set_balanced"] = *fewest == *most;
  }
  s["tpt_onset_epoch"] = tpt.onset_epoch() ? nlohmann::json(*tpt.onset_epoch()) : nlohmann::json(nullptr);
  s["lr_decayed_before_tpt"] =
      lr_decayed_before_tpt(c.lr_milestones, tpt.onset_epoch(), lines.empty() ? 0 : lines.back()["epoch"].get<int>());
  s["first_zero_error_epoch"] =
      tpt.first_zero_error_epoch() ? nlohmann::json(*tpt.first_zero_error_epoch()) : nlohmann::json(nullptr);
  s["test_accuracy_at_first_zero_error"] = nullptr;
  for (const auto& l : lines)
    if (tpt.first_zero_error_epoch() && l["epoch"] == *tpt.first_zero_error_epoch() && !l["test_error"].is_null())
      s["test_accuracy_at_first_zero_error"] = 1.0 - l["test_error"].get<double>();
  if (!lines.empty()) {
    const auto& last = lines.back();
    s["last_measured_epoch"] = last["epoch"];
    s["test_accuracy_at_last_epoch"] =
        last["test_error"].is_null() ? nlohmann::json(nullptr) : nlohmann::json(1.0 - last["test_error"].get<double>());
    s["final"] = last;
    // From the first measurement (initialisation) to the end: includes the fitting phase, so it is not the
    // terminal-phase collapse (terminal_phase.nc1_reduction is); docs/metrics.md, "summary.json".
    const auto& first = lines.front();
    if (first.contains("nc1") && !first["nc1"].is_null() && !last["nc1"].is_null())
      s["nc1_reduction_from_init"] = first["nc1"].get<double>() / last["nc1"].get<double>();
    // What the terminal phase did: the first measurement at or after TPT onset against the last one.
    if (tpt.onset_epoch()) {
      const auto onset = std::find_if(lines.begin(), lines.end(),
                                      [&](const nlohmann::json& l) { return l["epoch"].get<int>() >= *tpt.onset_epoch(); });
      if (onset != lines.end()) {
        nlohmann::json change = {{"from_epoch", (*onset)["epoch"]}, {"to_epoch", last["epoch"]}};
        for (const char* key : {"nc1", "equinorm_means", "equinorm_classifiers", "equiangular_means",
                                "equiangular_classifiers", "maxangle_means", "nc3", "nc4", "train_error", "test_error"})
          if (onset->contains(key) && !(*onset)[key].is_null() && !last[key].is_null())
            change[key] = {{"at_onset", (*onset)[key]}, {"final", last[key]}};
        if (change.contains("nc1") && last["nc1"].get<double>() > 0)
          change["nc1_reduction"] = (*onset)["nc1"].get<double>() / last["nc1"].get<double>();
        const nlohmann::json breaks = tpt_interruptions(lines, tpt);
        s["tpt_interruptions"] = breaks;
        if (!breaks.empty())
          change["last_uninterrupted_stretch"] = last_stretch(lines, breaks.back()["epoch"].get<int>(), tpt);
        s["terminal_phase"] = change;
      }
    }
  }
  return s;
}

}  // namespace collapse::experiment
