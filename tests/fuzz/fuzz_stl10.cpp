// STL-10's binary folder: train_X.bin (N x 3 x 96 x 96 bytes, column-major), train_y.bin (N label bytes)
// and class_names.txt. One input is cut into the three files at offsets its first two bytes choose, so the
// fuzzer can vary each file and their agreement (N of images vs labels).
#include <filesystem>
#include <fstream>

#include "data/stl10_reader.h"
#include "tests/fuzz/fuzz_input.h"

namespace {
void write(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  static const std::filesystem::path dir = "/tmp/collapse-fuzz-stl10-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const uint8_t* body = data + 2;
  const size_t n = size - 2;
  // Labels: up to 255 bytes; names: up to 255 bytes (0: no names file); images: the rest (27,648 bytes each).
  const size_t labels = std::min<size_t>(data[0], n), names = std::min<size_t>(data[1], n - labels);
  write(dir / "train_y.bin", body, labels);
  if (names > 0)
    write(dir / "class_names.txt", body + labels, names);
  else
    std::filesystem::remove(dir / "class_names.txt");  // absent: the published names
  write(dir / "train_X.bin", body + labels + names, n - labels - names);
  try {
    collapse::read_stl10(dir, collapse::Split::train);
  } catch (const collapse::Error&) {
  }
  return 0;
}
