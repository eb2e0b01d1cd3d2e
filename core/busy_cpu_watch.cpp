#include "core/busy_cpu_watch.h"

#include <omp.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

namespace collapse {

int64_t busy_ticks_of(const std::string& proc_stat, const std::vector<int>& cpus) {
  std::map<int, int64_t> busy_by_cpu;
  std::istringstream in(proc_stat);
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() < 4 || line.compare(0, 3, "cpu") != 0 || !std::isdigit(static_cast<unsigned char>(line[3])))
      continue;  // the "cpu" total line and everything that is not a CPU
    std::istringstream fields(line.substr(3));
    int id = -1;
    int64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    if (!(fields >> id >> user >> nice >> system >> idle >> iowait >> irq >> softirq)) continue;
    fields >> steal;  // absent before Linux 2.6.11
    busy_by_cpu[id] = user + nice + system + irq + softirq + steal;
  }
  int64_t busy = 0;
  for (int cpu : cpus) {
    const auto it = busy_by_cpu.find(cpu);
    if (it == busy_by_cpu.end()) return -1;
    busy += it->second;
  }
  return busy;
}

double other_programs_cpus(int64_t busy_ticks, double ticks_per_second, double own_cpu_seconds, double wall_seconds) {
  if (wall_seconds <= 0 || ticks_per_second <= 0) return 0;
  return std::max(0.0, (static_cast<double>(busy_ticks) / ticks_per_second - own_cpu_seconds) / wall_seconds);
}

bool short_waits_wanted(bool short_now, double other_cpus, int cpus, int threads) {
  const double free_cpus = cpus - other_cpus;
  return free_cpus < threads - (short_now ? 0.25 : 0.5);
}

// ---- the spare team

struct OversubscribedSignal::Spare {
  std::mutex mutex;
  std::condition_variable changed;
  bool counted = false, stop = false;
  std::thread thread;
};

void OversubscribedSignal::engage() {
  if (spare_) return;
  auto spare = std::make_unique<Spare>();
  Spare* s = spare.get();
  // cpus + 1 threads: with the program's own team (at least its initial thread) libgomp then manages more
  // threads than CPUs whatever the team's size. They sleep in libgomp's pool until the thread ends.
  const int team = cpus_ + 1;
  s->thread = std::thread([s, team] {
    std::atomic<int> joined{0};
#pragma omp parallel num_threads(team)
    joined.fetch_add(1, std::memory_order_relaxed);  // a region with an effect (an empty one is compiled away)
    std::unique_lock<std::mutex> lock(s->mutex);
    s->counted = true;
    s->changed.notify_all();
    s->changed.wait(lock, [s] { return s->stop; });
  });  // the thread's end frees its pool: libgomp's count goes back down
  std::unique_lock<std::mutex> lock(s->mutex);
  s->changed.wait(lock, [s] { return s->counted; });
  spare_ = spare.release();
}

void OversubscribedSignal::release() {
  if (!spare_) return;
  {
    std::lock_guard<std::mutex> lock(spare_->mutex);
    spare_->stop = true;
  }
  spare_->changed.notify_all();
  spare_->thread.join();
  delete spare_;
  spare_ = nullptr;
}

bool OversubscribedSignal::engaged() const { return spare_ != nullptr; }

// ---- the watch

namespace {

double seconds_of(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::string read_proc_stat() {
  std::ifstream in("/proc/stat");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<int> cpus_of_this_process() {
  std::vector<int> ids;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return ids;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) ids.push_back(cpu);
  return ids;
}

class Watch {
 public:
  Watch(std::vector<int> cpus, int threads)
      : cpus_(std::move(cpus)), threads_(threads), signal_(static_cast<int>(cpus_.size())),
        thread_([this] { run(); }) {}
  ~Watch() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void set_threads(int threads) { threads_ = threads; }
  BusyCpuWatchStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  struct Sample {
    int64_t busy_ticks;
    double own_cpu, wall;
  };
  Sample take() const {
    return {busy_ticks_of(read_proc_stat(), cpus_), seconds_of(CLOCK_PROCESS_CPUTIME_ID), seconds_of(CLOCK_MONOTONIC)};
  }
  void run() {
    const double ticks_per_second = static_cast<double>(sysconf(_SC_CLK_TCK));
    Sample before = take();
    std::unique_lock<std::mutex> lock(mutex_);
    stats_.running = true;
    while (!wake_.wait_for(lock, std::chrono::milliseconds(500), [this] { return stop_; })) {
      lock.unlock();
      const Sample now = take();
      const bool was_short = signal_.engaged();
      if (now.busy_ticks >= 0 && before.busy_ticks >= 0) {
        const double other = other_programs_cpus(now.busy_ticks - before.busy_ticks, ticks_per_second,
                                                 now.own_cpu - before.own_cpu, now.wall - before.wall);
        const bool want = short_waits_wanted(was_short, other, static_cast<int>(cpus_.size()), threads_);
        if (want && !was_short) signal_.engage();
        if (!want && was_short) signal_.release();
      }
      lock.lock();
      if (was_short) stats_.seconds_engaged += now.wall - before.wall;
      if (!was_short && signal_.engaged()) ++stats_.times_engaged;
      stats_.short_waits_now = signal_.engaged();
      before = now;
    }
    lock.unlock();
    signal_.release();
  }

  const std::vector<int> cpus_;
  std::atomic<int> threads_;
  OversubscribedSignal signal_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  BusyCpuWatchStats stats_;
  std::thread thread_;  // last: it starts once everything above exists
};

std::mutex g_watch_mutex;
std::unique_ptr<Watch> g_watch;  // ended (and its spare team released) when the program exits

}  // namespace

void watch_busy_cpus(int threads) {
  std::lock_guard<std::mutex> lock(g_watch_mutex);
  if (g_watch) {
    g_watch->set_threads(threads);
    return;
  }
  if (threads <= 1) return;
  std::vector<int> cpus = cpus_of_this_process();
  if (cpus.empty() || busy_ticks_of(read_proc_stat(), cpus) < 0) return;
  g_watch = std::make_unique<Watch>(std::move(cpus), threads);
}

BusyCpuWatchStats busy_cpu_watch_stats() {
  std::lock_guard<std::mutex> lock(g_watch_mutex);
  return g_watch ? g_watch->stats() : BusyCpuWatchStats{};
}

}  // namespace collapse
