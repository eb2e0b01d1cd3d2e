#include "data/stl10_reader.h"

#include "core/error.h"
#include "data/class_names.h"
#include "data/file_bytes.h"
#include "data/pixel_layout.h"

namespace collapse {

namespace fs = std::filesystem;

RawDataset read_stl10(const fs::path& dir, Split split) {
  constexpr int64_t kSide = 96, kChannels = 3, kClasses = 10;
  constexpr int64_t kImageBytes = kSide * kSide * kChannels;
  const fs::path x_path = dir / (std::string(split_name(split)) + "_X.bin");
  const fs::path y_path = dir / (std::string(split_name(split)) + "_y.bin");
  const std::vector<uint8_t> x = read_file_bytes(x_path);
  const std::vector<uint8_t> y = read_file_bytes(y_path);
  const int64_t x_size = static_cast<int64_t>(x.size());
  COLLAPSE_CHECK(x_size > 0 && x_size % kImageBytes == 0, x_path.string(), ": wrong record size: ", x_size,
                 " bytes is not a whole number of ", kImageBytes, "-byte 3x96x96 images; truncated?");

  RawDataset ds;
  ds.n = x_size / kImageBytes;
  ds.channels = kChannels;
  ds.height = ds.width = kSide;
  COLLAPSE_CHECK(static_cast<int64_t>(y.size()) == ds.n, y_path.string(), ": ", y.size(), " labels for the ", ds.n,
                 " images of ", x_path.string());
  ds.num_classes = kClasses;
  ds.class_names = read_class_names_or(dir / "class_names.txt", kClasses,
                                       {"airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship",
                                        "truck"});
  ds.labels.resize(ds.n);
  for (int64_t i = 0; i < ds.n; ++i) {
    COLLAPSE_CHECK(y[i] >= 1 && y[i] <= kClasses, y_path.string(), ": label ", int(y[i]), " of example ", i,
                   " is out of range (STL-10 labels are 1..10)");
    ds.labels[i] = y[i] - 1;
  }
  ds.pixels.resize(static_cast<size_t>(ds.n * kImageBytes));
  for (int64_t i = 0; i < ds.n; ++i)
    planar_to_hwc(x.data() + i * kImageBytes, planar_column_major(kSide, kSide), kChannels, kSide, kSide,
                  ds.image(i));
  check_raw_dataset(ds, x_path.string());
  return ds;
}

}  // namespace collapse
