#pragma once
// Per-layer weight and gradient norms: a measurement plugged into nc-experiment with
// `--measure weight_norms` (registered in nc/weight_norms.cpp; off by default). At each measured epoch it
// stores, under "weight_norms" in that epoch's metrics.jsonl line:
//   {"gradient": "<what the gradient is, below>",
//    "total":      {"weight_norm": ‖θ‖₂, "grad_norm": ‖g‖₂ or null, "parameters_with_grad": k},
//    "modules":    [{"name": "layer1.0.conv1", "weight_norm": ..., "grad_norm": ...}, ...],
//    "parameters": [{"name": "layer1.0.conv1.weight", "shape": [...], "weight_norm": ..., "grad_norm": ...}, ...]}
// in registration order; "modules" groups the parameters a module owns directly (its weight and bias).
//
// What the gradient is: nc-experiment measures right after an epoch's training, and the trainer zeroes
// gradients at the START of each step, so every parameter still holds the gradient of the epoch's LAST
// SGD step: ∂(mean cross-entropy of that one mini-batch)/∂θ at the weights BEFORE that step's update,
// WITHOUT the weight-decay term (SGD adds λθ inside its update and leaves .grad alone). The weights are
// those after the update. It is a one-batch sample, noisy, not the full-batch gradient. Before any step
// (the epoch-0 measurement) there is none: grad_norm is null. (Checkpoints do not store gradients, but a
// resumed run trains an epoch before its next measurement, so it has them again.)
#include <nlohmann/json.hpp>

#include "layers/module.h"

namespace collapse::nc {

// The JSON above for `model`'s parameters as they stand (weights and whatever .grad holds).
nlohmann::json weight_norms(const Module& model);

}  // namespace collapse::nc
