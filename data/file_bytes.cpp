#include "data/file_bytes.h"

#include <fstream>
#include <system_error>

#include "core/error.h"
#include "data/zlib_inflate.h"

namespace collapse {

namespace fs = std::filesystem;

std::vector<uint8_t> read_file_bytes(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  COLLAPSE_CHECK(fs::exists(status), "missing file: ", path.string());
  COLLAPSE_CHECK(fs::is_regular_file(status), "not a regular file: ", path.string());
  const uintmax_t size = fs::file_size(path, ec);
  COLLAPSE_CHECK(!ec, "cannot stat ", path.string(), ": ", ec.message());
  std::ifstream in(path, std::ios::binary);
  COLLAPSE_CHECK(in, "cannot open ", path.string());
  std::vector<uint8_t> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  COLLAPSE_CHECK(static_cast<uintmax_t>(in.gcount()) == size, "read error on ", path.string(), ": got ",
                 in.gcount(), " of ", size, " bytes");
  return bytes;
}

std::vector<uint8_t> read_file_maybe_gzipped(const fs::path& path) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  if (!has_gzip_magic(bytes)) return bytes;
  return gunzip(bytes.data(), bytes.size(), path.string());
}

fs::path existing_plain_or_gz(const fs::path& path) {
  if (fs::exists(path)) return path;
  fs::path gz = path;
  gz += ".gz";
  if (fs::exists(gz)) return gz;
  COLLAPSE_FAIL("missing file: ", path.string(), " (also tried ", gz.string(), ")");
}

}  // namespace collapse
