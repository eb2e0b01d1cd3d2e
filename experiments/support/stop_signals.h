#pragma once
// Ctrl-C (SIGINT) and SIGTERM (Slurm's time limit, a scheduler's preemption, reproduce-paper stopping its
// cells) ask the run to stop at the next step boundary: the trainer finishes the step it is in, the
// experiment writes a checkpoint and prints the command that resumes it. A second signal ends the
// process at once (the default action).
#include <atomic>

namespace collapse::experiment {

// Installs the handlers; stop_signal() is 0 until one of the signals arrives, then its number.
void install_stop_handlers();
const std::atomic<int>& stop_signal();

}  // namespace collapse::experiment
