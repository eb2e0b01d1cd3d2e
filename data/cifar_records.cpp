#include "data/cifar_reader.h"

#include "core/error.h"
#include "data/file_bytes.h"
#include "data/pixel_layout.h"

namespace collapse {

namespace {
constexpr int64_t kSide = 32, kChannels = 3;
constexpr int64_t kPixelBytes = kSide * kSide * kChannels;
}  // namespace

void append_cifar_file(const std::filesystem::path& path, const CifarRecordFormat& format, RawDataset& out) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  const int64_t label_bytes = static_cast<int64_t>(format.label_classes.size());
  const int64_t record = label_bytes + kPixelBytes;
  const int64_t size = static_cast<int64_t>(bytes.size());
  COLLAPSE_CHECK(size > 0 && size % record == 0, path.string(), ": wrong record size: ", size,
                 " bytes is not a whole number of ", record, "-byte records (", label_bytes, " label byte",
                 label_bytes > 1 ? "s" : "", " + ", kPixelBytes, " pixels); truncated or not this CIFAR variant");
  const int64_t records = size / record;
  out.channels = kChannels;
  out.height = out.width = kSide;
  out.pixels.resize(static_cast<size_t>((out.n + records) * kPixelBytes));
  out.labels.reserve(static_cast<size_t>(out.n + records));
  for (int64_t r = 0; r < records; ++r) {
    const uint8_t* rec = bytes.data() + r * record;
    for (int64_t b = 0; b < label_bytes; ++b)
      COLLAPSE_CHECK(rec[b] < format.label_classes[b], path.string(), ": label ", int(rec[b]), " of record ", r,
                     " is out of range [0, ", format.label_classes[b], ")");
    out.labels.push_back(rec[format.used_label]);
    planar_to_hwc(rec + label_bytes, planar_row_major(kSide, kSide), kChannels, kSide, kSide, out.image(out.n + r));
  }
  out.n += records;
}

}  // namespace collapse
