// IDX (MNIST family), plain or gzipped: images (3 dimensions) and labels (1).
#include "data/idx_reader.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return collapse::fuzz::read_as_file(data, size, ".idx", [](const std::string& path) {
    try {
      collapse::read_idx_ubyte(path, 3);
    } catch (const collapse::Error&) {
    }
    collapse::read_idx_ubyte(path, 1);
  });
}
