// Image files of an ImageFolder dataset (JPEG through libjpeg-turbo, PNG through stb_image): the header
// probe and the decode + resize + centre crop a training run does, at a small crop so inputs stay fast.
#include <cstdint>
#include <vector>

#include "data/image_decode.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return collapse::fuzz::read_as_file(data, size, ".img", [](const std::string& path) {
    (void)collapse::image_header_readable(path);
    std::vector<uint8_t> out(24 * 24 * 3);
    collapse::decode_resize_center_crop(path, {32, 24}, out.data());
  });
}
