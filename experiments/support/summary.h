#pragma once
// summary.json from a run's measured lines (docs/metrics.md, "summary.json"): the paper's Table 1, the
// final values, the terminal-phase change, and the epochs where the terminal phase broke. Derived from
// metrics.jsonl alone, so a resumed run's summary is the uninterrupted run's.
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "experiments/support/protocol.h"
#include "optim/trainer.h"

namespace collapse::experiment {

nlohmann::json make_summary(const std::vector<nlohmann::json>& lines, const TerminalPhaseTracker& tpt,
                            const ExperimentConfig& config, const std::vector<int64_t>& train_class_counts);

// Whether a measured train error is below the TPT threshold (TerminalPhaseTracker::accurate_enough).
bool below_tpt_threshold(double train_error, double accuracy_threshold);

// The measured epochs after TPT onset whose train accuracy fell below the threshold again
// (TerminalPhaseTracker::interrupted_by; a late loss spike undoes the fit, as it undid the demo's collapse
// on a 2-core EPYC): each {"epoch", "train_error", "loss_before" (the previous measurement's train loss),
// "loss_after"}.
nlohmann::json tpt_interruptions(const std::vector<nlohmann::json>& lines, const TerminalPhaseTracker& tpt);

}  // namespace collapse::experiment
