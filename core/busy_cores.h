#pragma once
// Contention for benchmarks: K single-threaded processes that spin, each in a session of its own, as a
// desktop's other applications run (with Linux's autogroup scheduler a spinner in the benchmark's own
// session does not show the problem: docs/performance.md § "A busy machine"). They stop when the object goes.
#include <sys/types.h>

#include <vector>

namespace collapse {

class BusyCores {
 public:
  explicit BusyCores(int count);
  ~BusyCores();
  BusyCores(const BusyCores&) = delete;
  BusyCores& operator=(const BusyCores&) = delete;

 private:
  std::vector<pid_t> spinners_;
};

}  // namespace collapse
