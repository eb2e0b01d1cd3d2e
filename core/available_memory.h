#pragma once
// How much memory this process could still take: the machine's MemAvailable, lowered by the tightest cgroup
// memory limit (a container's --memory, a Slurm job's allocation) of this process's cgroup and its
// ancestors, v1 or v2. Used to refuse a run whose model cannot fit before anything is allocated: past that,
// Linux lets the allocation succeed and the OOM killer ends the process without a word.
#include <cstdint>
#include <optional>
#include <string>

namespace collapse {

struct AvailableMemory {
  uint64_t bytes = 0;
  std::string source;  // "MemAvailable" or "cgroup limit"
};

std::optional<AvailableMemory> available_memory();  // nullopt when nothing can be read (not Linux)

// For tests: MemAvailable in bytes from /proc/meminfo's text ("MemAvailable:   123 kB").
std::optional<uint64_t> meminfo_available_bytes(const std::string& meminfo);
// What a cgroup limit leaves: limit - usage; nullopt for no limit ("max", v1's huge sentinel, unreadable).
std::optional<uint64_t> cgroup_memory_left(const std::string& limit, const std::string& usage);

}  // namespace collapse
