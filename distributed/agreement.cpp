#include "distributed/agreement.h"

#include <cstdlib>

namespace collapse::distributed {

bool any_rank(Communicator& comm, bool flag) {
  double votes = flag ? 1.0 : 0.0;
  comm.all_reduce_sum(&votes, 1);
  return votes > 0;
}

bool decided_by_root(Communicator& comm, bool flag) {
  char value = flag ? 1 : 0;
  comm.broadcast(&value, 1, 0);
  return value != 0;
}

void broadcast_text(Communicator& comm, std::string& text) {
  int64_t length = static_cast<int64_t>(text.size());
  comm.broadcast(&length, sizeof length, 0);
  text.resize(static_cast<size_t>(length));
  if (length > 0) comm.broadcast(text.data(), length, 0);
}

int local_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"})
    if (const char* v = std::getenv(name); v && *v) return std::atoi(v);
  return 0;
}

}  // namespace collapse::distributed
