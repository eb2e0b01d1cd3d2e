// The NCCL communicator (built with the CUDA backend when nccl.h is found; distributed/no_nccl.cpp
// otherwise). Collectives run on one stream of their own; start_all_reduce_sum returns at once and its
// request waits on an event recorded after the operation.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "core/error.h"
#include "distributed/nccl_communicator.h"

namespace collapse::distributed {
namespace {

void check_nccl(ncclResult_t code, const char* what) {
  COLLAPSE_CHECK(code == ncclSuccess, "NCCL ", what, " failed: ", ncclGetErrorString(code));
}
void check_cuda(cudaError_t code, const char* what) {
  COLLAPSE_CHECK(code == cudaSuccess, "CUDA ", what, " failed: ", cudaGetErrorString(code));
}

class NcclRequest final : public PendingCollective {
 public:
  explicit NcclRequest(cudaStream_t stream) {
    check_cuda(cudaEventCreateWithFlags(&done_, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(done_, stream), "cudaEventRecord");
  }
  ~NcclRequest() override {
    cudaEventSynchronize(done_);
    cudaEventDestroy(done_);
  }
  bool test() override { return cudaEventQuery(done_) == cudaSuccess; }
  void wait() override { check_cuda(cudaEventSynchronize(done_), "cudaEventSynchronize"); }

 private:
  cudaEvent_t done_{};
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(Communicator& bootstrap, int device) : bootstrap_(bootstrap), device_(device) {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    ncclUniqueId id;
    if (bootstrap_.is_root()) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    bootstrap_.broadcast(&id, sizeof id, 0);
    check_nccl(ncclCommInitRank(&comm_, bootstrap_.size(), id, bootstrap_.rank()), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
  }
  ~NcclCommunicator() override {
    cudaStreamSynchronize(stream_);
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }

  int rank() const override { return bootstrap_.rank(); }
  int size() const override { return bootstrap_.size(); }
  std::string backend() const override { return "nccl"; }
  void barrier() override { bootstrap_.barrier(); }

  void broadcast(void* data, int64_t bytes, int root) override {
    check_nccl(ncclBroadcast(data, data, static_cast<size_t>(bytes), ncclUint8, root, comm_, stream_), "ncclBroadcast");
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void all_reduce_sum(float* data, int64_t count) override {
    start_all_reduce_sum(data, count)->wait();
  }
  void all_reduce_sum(double* data, int64_t count) override {
    // The default stream's work (the kernels that wrote `data`) comes first.
    check_cuda(cudaStreamSynchronize(nullptr), "cudaStreamSynchronize");
    check_nccl(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat64, ncclSum, comm_, stream_),
               "ncclAllReduce");
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  std::unique_ptr<PendingCollective> start_all_reduce_sum(float* data, int64_t count) override {
    check_cuda(cudaStreamSynchronize(nullptr), "cudaStreamSynchronize");
    check_nccl(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat32, ncclSum, comm_, stream_),
               "ncclAllReduce");
    return std::make_unique<NcclRequest>(stream_);
  }
  [[noreturn]] void abort(int exit_code) override {
    ncclCommAbort(comm_);
    bootstrap_.abort(exit_code);
    std::_Exit(exit_code);  // not reached: MPI_Abort ends the job (the compiler cannot know it through a virtual call)
  }

 private:
  Communicator& bootstrap_;
  int device_;
  ncclComm_t comm_{};
  cudaStream_t stream_{};
};

}  // namespace

bool nccl_available() { return true; }

std::unique_ptr<Communicator> nccl_communicator(Communicator& bootstrap, int device) {
  return std::make_unique<NcclCommunicator>(bootstrap, device);
}

}  // namespace collapse::distributed
