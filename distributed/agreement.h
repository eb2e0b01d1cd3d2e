#pragma once
// Small agreements between ranks, built on a Communicator: decisions every rank must take alike (stop,
// checkpoint now) and text only rank 0 can read (a run's config.json on --resume).
#include <string>

#include "distributed/communicator.h"

namespace collapse::distributed {

// True on every rank when `flag` is true on at least one (a signal that reached one rank stops them all).
bool any_rank(Communicator& comm, bool flag);
// Rank 0's `flag` on every rank (a decision that depends on rank 0's clock, like "5 minutes since the last
// checkpoint").
bool decided_by_root(Communicator& comm, bool flag);
// Rank 0's `text` on every rank.
void broadcast_text(Communicator& comm, std::string& text);
// This process's index among the ranks on its machine (to pick a GPU): Open MPI's, Slurm's or MPICH's
// variable, else 0.
int local_rank();

}  // namespace collapse::distributed
