#pragma once
// Whole-file reads. Every reader reads its file into memory once and parses the buffer with bounds
// checks, so a short file becomes an explicit "truncated" error naming the file, never a partial read.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace collapse {

// The file's bytes. Missing, unreadable or a directory -> collapse::Error naming the path.
std::vector<uint8_t> read_file_bytes(const std::filesystem::path& path);

// The file's bytes, inflated when they start with the gzip magic (1f 8b), whatever the file is called:
// users unpack some downloads and not others.
std::vector<uint8_t> read_file_maybe_gzipped(const std::filesystem::path& path);

// `path` if it exists, else `path` + ".gz" if that exists; otherwise an error naming both.
std::filesystem::path existing_plain_or_gz(const std::filesystem::path& path);

}  // namespace collapse
