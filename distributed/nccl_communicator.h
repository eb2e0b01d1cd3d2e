#pragma once
// NCCL between the GPUs of one job, one GPU per rank: the communicator for gradients held in CUDA memory.
// `bootstrap` (the MPI world) carries NCCL's unique id from rank 0 to the others and serves barrier();
// buffers passed to the collectives are device pointers on `device`.
#include <memory>

#include "distributed/communicator.h"

namespace collapse::distributed {

bool nccl_available();  // whether this build has NCCL (built with the CUDA backend)
std::unique_ptr<Communicator> nccl_communicator(Communicator& bootstrap, int device);

}  // namespace collapse::distributed
