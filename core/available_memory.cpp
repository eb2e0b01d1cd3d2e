#include "core/available_memory.h"

#include <fstream>
#include <sstream>

#include "core/cgroup_files.h"

namespace collapse {
namespace {

std::optional<uint64_t> parse_bytes(const std::string& text) {
  try {
    size_t used = 0;
    const unsigned long long v = std::stoull(text, &used);
    if (used == 0) return std::nullopt;
    return static_cast<uint64_t>(v);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void lower_to(std::optional<AvailableMemory>& best, std::optional<uint64_t> bytes, const char* source) {
  if (bytes && (!best || *bytes < best->bytes)) best = AvailableMemory{*bytes, source};
}

}  // namespace

std::optional<uint64_t> meminfo_available_bytes(const std::string& meminfo) {
  std::istringstream in(meminfo);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key, unit;
    unsigned long long value = 0;
    if (fields >> key >> value && key == "MemAvailable:") {
      fields >> unit;
      return static_cast<uint64_t>(value) * (unit == "kB" ? 1024u : 1u);
    }
  }
  return std::nullopt;
}

std::optional<uint64_t> cgroup_memory_left(const std::string& limit, const std::string& usage) {
  const std::optional<uint64_t> l = parse_bytes(limit), u = parse_bytes(usage);
  // v1 writes "no limit" as a number near 2^63 rounded down to the page size.
  if (!l || *l >= (uint64_t{1} << 62)) return std::nullopt;
  const uint64_t used = u.value_or(0);
  return used >= *l ? 0 : *l - used;
}

std::optional<AvailableMemory> available_memory() {
  std::optional<AvailableMemory> best;
  std::ifstream meminfo("/proc/meminfo");
  std::stringstream text;
  text << meminfo.rdbuf();
  lower_to(best, meminfo_available_bytes(text.str()), "MemAvailable");
  using namespace cgroup;
  for (const std::string& dir : self_and_ancestors(path_of_this_process(""))) {
    const std::string base = "/sys/fs/cgroup" + dir;
    lower_to(best, cgroup_memory_left(read_first_line(base + "/memory.max"), read_first_line(base + "/memory.current")),
             "cgroup limit");
  }
  for (const std::string& dir : self_and_ancestors(path_of_this_process("memory"))) {
    const std::string base = "/sys/fs/cgroup/memory" + dir;
    lower_to(best, cgroup_memory_left(read_first_line(base + "/memory.limit_in_bytes"),
                                      read_first_line(base + "/memory.usage_in_bytes")),
             "cgroup limit");
  }
  return best;
}

}  // namespace collapse
