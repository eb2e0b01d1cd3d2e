#pragma once
// The few collective operations data parallelism needs, behind one interface (flashlight's small
// distributed API): rank and size, a barrier, broadcast, and sum all-reduce of float32/float64 buffers,
// blocking or started now and finished later (so gradient buckets can travel while backward still runs).
//
// Implementations: SingleProcess (size 1, every operation a no-op; what a run without mpirun uses),
// MPI between processes and machines (distributed/mpi_communicator.cpp, built when CMake finds MPI), and
// NCCL between GPUs (distributed/nccl_communicator.cpp, built with the CUDA backend, bootstrapped through
// MPI). Buffers are host memory for SingleProcess and MPI, device memory for NCCL.
//
// Only train/ (the Trainer, experiments) and nc/ use this folder; models and kernels know nothing of it.
#include <cstdint>
#include <memory>
#include <string>

namespace collapse::distributed {

// A collective started by a start_* call: test() makes progress and says whether it finished; wait()
// blocks until it has. Destroying an unfinished request waits for it (its buffer must outlive it anyway).
class PendingCollective {
 public:
  virtual ~PendingCollective() = default;
  virtual bool test() = 0;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "single-process", "mpi", "nccl"
  bool is_root() const { return rank() == 0; }

  // Waits for every rank without keeping a core busy (a rank that waits while rank 0 measures must not
  // take the core rank 0 computes on).
  virtual void barrier() = 0;
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void all_reduce_sum(float* data, int64_t count) = 0;
  virtual void all_reduce_sum(double* data, int64_t count) = 0;
  // The all-reduce of `data` starts now; `data` must stay untouched until the request finished.
  virtual std::unique_ptr<PendingCollective> start_all_reduce_sum(float* data, int64_t count) = 0;
  // Ends every rank of the job with `exit_code` (after this rank said why): one failing rank must not
  // leave the others waiting in a collective for ever.
  [[noreturn]] virtual void abort(int exit_code) = 0;
};

// The communicator of a process that runs alone.
std::unique_ptr<Communicator> single_process();

// Whether a launcher started this process as one rank of several (mpirun / mpiexec / srun set these
// variables); MPI_Init is called only then, so a plain run never needs an MPI runtime.
bool launched_as_rank();
// Whether this build has MPI.
bool mpi_available();

// The world this process belongs to: MPI's when launched_as_rank(), else single_process(). Errors when
// launched as a rank by a build without MPI (every rank would train the whole run on its own).
std::unique_ptr<Communicator> connect_world(int& argc, char**& argv);

}  // namespace collapse::distributed

#include "core/sum_across_replicas.h"

namespace collapse::distributed {

// `comm`'s all-reduce as the plain function that batch norm and the NC analysis take.
inline SumAcrossReplicas replica_sum(Communicator& comm) {
  return [&comm](double* values, int64_t count) { comm.all_reduce_sum(values, count); };
}

}  // namespace collapse::distributed
