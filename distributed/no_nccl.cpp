// A build without NCCL (no CUDA backend, or nccl.h not found). Compiled instead of nccl_communicator.cpp.
#include "core/error.h"
#include "distributed/nccl_communicator.h"

namespace collapse::distributed {

bool nccl_available() { return false; }

std::unique_ptr<Communicator> nccl_communicator(Communicator&, int) {
  COLLAPSE_FAIL("data parallelism across GPUs needs NCCL: this build has none (build with the CUDA backend, "
                "nccl.h under /usr/local/cuda/include)");
}

}  // namespace collapse::distributed
