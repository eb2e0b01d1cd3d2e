// A build without MPI (CMake found none): the world is this process. Compiled instead of
// distributed/mpi_communicator.cpp.
#include "core/error.h"
#include "distributed/communicator.h"

namespace collapse::distributed {

bool mpi_available() { return false; }

std::unique_ptr<Communicator> connect_world(int&, char**&) {
  COLLAPSE_CHECK(!launched_as_rank(), "this process was started as one rank of an MPI job, but collapse was built "
                 "without MPI: install libopenmpi-dev (scripts/setup does) and rebuild, or run without mpirun");
  return single_process();
}

}  // namespace collapse::distributed
