#include "experiments/support/provenance.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <vector>

namespace collapse::experiment {
namespace {
namespace fs = std::filesystem;

constexpr uintmax_t kHashLimitBytes = uintmax_t{1} << 30;

// CRC-32 of a whole file in hex, or null when it cannot be read.
nlohmann::json file_crc32(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return nullptr;
  std::vector<char> buffer(1 << 20);
  uLong crc = crc32_z(0L, Z_NULL, 0);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(buffer.data()), static_cast<size_t>(in.gcount()));
  }
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08lx", static_cast<unsigned long>(crc));
  return hex;
}
}  // namespace

nlohmann::json data_provenance(const DatasetInfo& info, const fs::path& root, const ChannelStats& stats) {
  const fs::path dir = dataset_directory(info, root);
  std::error_code ec;
  nlohmann::json record = {{"dir", fs::absolute(dir, ec).lexically_normal().string()},
                           {"normalisation", {{"mean", stats.mean}, {"std", stats.std}}}};
  if (info.name == "imagenet") {  // train/<wnid>/*.JPEG, val/...: counted
    uintmax_t files = 0, bytes = 0;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file(ec)) ++files, bytes += it->file_size(ec);
    record["image_files"] = files;
    record["bytes"] = bytes;
    record["hashed"] = "no (an image folder: counted only)";
    return record;
  }
  std::vector<fs::path> paths;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_regular_file(ec)) paths.push_back(it->path());
  std::sort(paths.begin(), paths.end());
  nlohmann::json files = nlohmann::json::array();
  for (const fs::path& p : paths) {
    const uintmax_t size = fs::file_size(p, ec);
    files.push_back({{"name", p.filename().string()},
                     {"bytes", size},
                     {"crc32", size <= kHashLimitBytes ? file_crc32(p) : nlohmann::json("not hashed: over 1 GiB")}});
  }
  record["files"] = files;
  return record;
}

}  // namespace collapse::experiment
