#pragma once
// Reading this process's cgroup limits (CPU quota: core/available_cpus.h; memory: core/available_memory.h).
// A limit set on any ancestor cgroup applies too, so callers look at every folder self_and_ancestors gives.
#include <string>
#include <vector>

namespace collapse::cgroup {

// The first line of a file, "" when it cannot be read.
std::string read_first_line(const std::string& path);

// This process's cgroup folder for a v1 controller ("cpu", "memory"), or with "" the v2 unified one: the
// folder part of the matching line of /proc/self/cgroup ("0::/a/b" or "2:cpu,cpuacct:/a"); "" when none.
std::string path_of_this_process(const std::string& v1_controller);

// "/a/b" -> {"/a/b", "/a", ""}.
std::vector<std::string> self_and_ancestors(std::string path);

}  // namespace collapse::cgroup
