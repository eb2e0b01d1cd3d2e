#pragma once
// libFuzzer harness support: the readers take paths, so each input is written to a per-process file and
// read back through the same entry point a user's file goes through. A collapse::Error is the expected
// answer to a bad file; any other exception (std::bad_alloc, a JSON library's type_error, std::stoi's
// invalid_argument) escapes, aborts, and is reported by the fuzzer: a user must never see one.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>

#include "core/error.h"

namespace collapse::fuzz {

template <class Read>
int read_as_file(const uint8_t* data, size_t size, const char* suffix, Read read) {
  static const std::string path = "/tmp/collapse-fuzz-" + std::to_string(::getpid()) + suffix;
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    read(path);
  } catch (const collapse::Error&) {
    // a clear error naming the file: what a bad file must give
  }
  return 0;
}

}  // namespace collapse::fuzz
