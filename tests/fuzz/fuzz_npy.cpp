// NumPy .npy files (what collapse-analyze reads).
#include "nc/npy.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return collapse::fuzz::read_as_file(data, size, ".npy", [](const std::string& path) {
    const collapse::nc::NpyArray a = collapse::nc::read_npy(path);
    a.expect_shape({-1, -1}, "features (N, p)");
  });
}
