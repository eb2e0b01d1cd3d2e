#pragma once
// How code below distributed/ (batch norm, the NC analysis) sums numbers across the replicas of a
// data-parallel job without knowing MPI: a function that adds `count` doubles in place over all ranks.
// distributed::replica_sum(comm) makes one (distributed/communicator.h); in one process there is nothing to add.
#include <cstdint>
#include <functional>

namespace collapse {

using SumAcrossReplicas = std::function<void(double* values, int64_t count)>;

}  // namespace collapse
