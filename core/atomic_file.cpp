#include "core/atomic_file.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"

namespace collapse {
namespace {

// Unique within the process (counter) and across processes (pid), so concurrent writers of the same
// target never share a temporary file.
std::string temporary_path_for(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return detail::concat(path, ".tmp.", ::getpid(), ".", counter++);
}

}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string temp = temporary_path_for(path);
  try {
    {
      std::ofstream out(temp, std::ios::binary | std::ios::trunc);
      COLLAPSE_CHECK(out.good(), "cannot write '", path, "': cannot create temporary file '", temp,
                     "': ", std::strerror(errno));
      write(out);
      out.flush();
      COLLAPSE_CHECK(out.good(), "cannot write '", path, "': write to '", temp, "' failed (disk full?)");
    }
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    COLLAPSE_CHECK(!ec, "cannot write '", path, "': rename from '", temp, "' failed: ", ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw;
  }
}

void write_text_file_atomically(const std::string& path, const std::string& text) {
  write_file_atomically(path, [&](std::ostream& out) { out.write(text.data(), static_cast<std::streamsize>(text.size())); });
}

}  // namespace collapse
