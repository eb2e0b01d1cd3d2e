#pragma once
// Refusing, before anything is allocated, a model that cannot fit in this machine's memory (issue: an absurd
// --width was allocated and the OOM killer ended the run without a message).
#include "experiments/support/protocol.h"

namespace collapse::experiment {

// Bytes per parameter that training holds at least: the weights, their gradients, SGD's momentum and the
// copy a checkpoint writes from (float32 each).
inline constexpr double kTrainingBytesPerParameter = 16;

// A collapse::Error naming --width, the estimated parameter count and both byte counts when the parameters
// alone need more than the memory available (core/available_memory.h). Activations (which grow with
// --batch-size and the image size) are not counted, so a run that passes can still run out of memory; that
// ends in nc-experiment's "out of memory" message, not in a kill.
void check_model_fits_memory(const ExperimentConfig& c);

}  // namespace collapse::experiment
