#include "core/busy_cores.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/error.h"

namespace collapse {

BusyCores::BusyCores(int count) {
  for (int i = 0; i < count; ++i) {
    const pid_t pid = fork();
    COLLAPSE_CHECK(pid >= 0, "busy cores: fork failed");
    if (pid == 0) {
      setsid();
      volatile unsigned long spin = 0;
      for (;;) spin = spin + 1;
    }
    spinners_.push_back(pid);
  }
  if (count > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));  // let them take their cores
}

BusyCores::~BusyCores() {
  for (pid_t pid : spinners_) kill(pid, SIGKILL);
  for (pid_t pid : spinners_) waitpid(pid, nullptr, 0);
}

}  // namespace collapse
