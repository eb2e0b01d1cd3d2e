#pragma once
// summary.json from a run's measured lines (docs/metrics.md, "summary.json"): the paper's Table 1, the
// final values, the terminal-phase change, and the epochs where the terminal phase broke. Derived from
// metrics.jsonl alone, so a resumed run's summary is the uninterrupted run's.
#include <cstdint>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/support/protocol.h"
#include "train/trainer.h"

namespace collapse::experiment {

nlohmann::json make_summary(const std::vector<nlohmann::json>& lines, const TerminalPhaseTracker& tpt,
                            const ExperimentConfig& config, const std::vector<int64_t>& train_class_counts);

// Whether the learning rate was first divided before the terminal phase began (or it never began): the
// collapse the paper shows happens mostly at the initial rate, so such a run's terminal-phase change says
// little (a 30-epoch MNIST run read "NC1 1.0x lower" for this reason). `onset` is the TPT onset epoch,
// `last_epoch` the last one trained so far (false until the run is past the first decay).
bool lr_decayed_before_tpt(const std::vector<int>& milestones, std::optional<int> onset, int last_epoch);

// Whether a measured train error is below the TPT threshold (TerminalPhaseTracker::accurate_enough).
bool below_tpt_threshold(double train_error, double accuracy_threshold);

// The measured epochs after TPT onset whose train accuracy fell below the threshold again
// (TerminalPhaseTracker::interrupted_by; a late loss spike undoes the fit, as it undid the demo's collapse
// on a 2-core EPYC): each {"epoch", "train_error", "loss_before" (the previous measurement's train loss),
// "loss_after"}.
nlohmann::json tpt_interruptions(const std::vector<nlohmann::json>& lines, const TerminalPhaseTracker& tpt);

}  // namespace collapse::experiment
