// safetensors files (checkpoints), with their metadata.
#include <map>

#include "core/safetensors.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return collapse::fuzz::read_as_file(data, size, ".safetensors", [](const std::string& path) {
    std::map<std::string, std::string> metadata;
    collapse::load_safetensors(path, &metadata);
  });
}
