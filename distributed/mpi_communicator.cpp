// The MPI communicator: Open MPI (Debian's libopenmpi-dev) or any MPI-3 library, between processes on
// one machine or many. Built only when CMake finds MPI (distributed/no_mpi.cpp otherwise).
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "core/error.h"
#include "distributed/communicator.h"

namespace collapse::distributed {
namespace {

// MPI counts are int: longer buffers go in pieces.
constexpr int64_t kMaxPiece = INT_MAX / 2;

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  COLLAPSE_FAIL("MPI ", what, " failed: ", std::string(text, static_cast<size_t>(length)));
}

// Polls a non-blocking operation, sleeping between tests: a blocking MPI call busy-polls a core, which a
// rank that only waits (for rank 0's measurement, say) would take from the ranks that compute.
void wait_politely(MPI_Request& request) {
  auto pause = std::chrono::microseconds(50);
  for (;;) {
    int done = 0;
    check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) return;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(5000));
  }
}

class MpiRequest final : public PendingCollective {
 public:
  explicit MpiRequest(MPI_Request request) : request_(request) {}
  ~MpiRequest() override {
    if (request_ != MPI_REQUEST_NULL) MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  bool test() override {
    if (request_ == MPI_REQUEST_NULL) return true;
    int done = 0;
    check_mpi(MPI_Test(&request_, &done, MPI_STATUS_IGNORE), "MPI_Test");
    return done != 0;
  }
  void wait() override {
    if (request_ != MPI_REQUEST_NULL) check_mpi(MPI_Wait(&request_, MPI_STATUS_IGNORE), "MPI_Wait");
  }

 private:
  MPI_Request request_;
};

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(int& argc, char**& argv) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      int provided = 0;
      // Only the thread that calls us uses MPI (the loader's prefetch thread never does).
      check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_mpi_ = true;
    }
    // Errors come back as codes (check_mpi turns them into messages) instead of MPI's own abort.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (owns_mpi_ && !finalized) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void barrier() override {
    MPI_Request request;
    check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier");
    wait_politely(request);
  }

  void broadcast(void* data, int64_t bytes, int root) override {
    auto* p = static_cast<char*>(data);
    for (int64_t done = 0; done < bytes; done += kMaxPiece) {
      MPI_Request request;
      check_mpi(MPI_Ibcast(p + done, static_cast<int>(std::min(kMaxPiece, bytes - done)), MPI_BYTE, root,
                           MPI_COMM_WORLD, &request),
                "MPI_Ibcast");
      wait_politely(request);
    }
  }

  void all_reduce_sum(float* data, int64_t count) override { reduce(data, count, MPI_FLOAT); }
  void all_reduce_sum(double* data, int64_t count) override { reduce(data, count, MPI_DOUBLE); }

  std::unique_ptr<PendingCollective> start_all_reduce_sum(float* data, int64_t count) override {
    COLLAPSE_CHECK(count <= kMaxPiece, "start_all_reduce_sum: ", count, " elements in one bucket (at most ",
                   kMaxPiece, ")");
    MPI_Request request;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                             &request),
              "MPI_Iallreduce");
    return std::make_unique<MpiRequest>(request);
  }

  [[noreturn]] void abort(int exit_code) override {
    std::fflush(nullptr);
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  template <class T>
  void reduce(T* data, int64_t count, MPI_Datatype type) {
    for (int64_t done = 0; done < count; done += kMaxPiece)
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + done, static_cast<int>(std::min(kMaxPiece, count - done)), type,
                              MPI_SUM, MPI_COMM_WORLD),
                "MPI_Allreduce");
  }

  int rank_ = 0, size_ = 1;
  bool owns_mpi_ = false;
};

}  // namespace

bool mpi_available() { return true; }

std::unique_ptr<Communicator> connect_world(int& argc, char**& argv) {
  if (!launched_as_rank()) return single_process();
  return std::make_unique<MpiCommunicator>(argc, argv);
}

}  // namespace collapse::distributed
