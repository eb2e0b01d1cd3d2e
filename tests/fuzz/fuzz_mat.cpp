// MATLAB v5 files (SVHN), compressed or not, either byte order: the generic reader, then SVHN's.
#include "data/mat_v5.h"
#include "data/svhn_reader.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return collapse::fuzz::read_as_file(data, size, ".mat", [](const std::string& path) {
    for (const collapse::MatVariable& v : collapse::read_mat_v5(path))
      if (v.has_numeric_data()) collapse::mat_values_as_double(v, path);
    collapse::read_svhn_mat(path);
  });
}
