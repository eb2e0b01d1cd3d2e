#include "data/idx_reader.h"

#include <algorithm>

#include "core/error.h"
#include "data/byte_reader.h"
#include "data/file_bytes.h"
#include "data/warn.h"

namespace collapse {

namespace fs = std::filesystem;

namespace {
constexpr uint8_t kIdxUnsignedByte = 0x08;
}

IdxUbyteArray read_idx_ubyte(const fs::path& path, int64_t expected_ndims) {
  std::vector<uint8_t> bytes = read_file_maybe_gzipped(path);
  const std::string what = path.string();
  ByteReader r(bytes.data(), bytes.size(), what, /*big_endian=*/true);
  const uint8_t* magic = r.take(4, "the IDX magic");
  COLLAPSE_CHECK(magic[0] == 0 && magic[1] == 0 && magic[2] == kIdxUnsignedByte && magic[3] == expected_ndims, what,
                 ": wrong magic ", int(magic[0]), " ", int(magic[1]), " ", int(magic[2]), " ", int(magic[3]),
                 ": expected an unsigned-byte IDX file with ", expected_ndims, " dimensions (0 0 8 ", expected_ndims,
                 ")");
  IdxUbyteArray a;
  int64_t count = 1;
  for (int64_t d = 0; d < expected_ndims; ++d) {
    a.dims.push_back(r.u32("an IDX dimension"));
    count *= a.dims.back();
  }
  COLLAPSE_CHECK(static_cast<int64_t>(r.remaining()) == count, what, ": ",
                 static_cast<int64_t>(r.remaining()) < count ? "truncated" : "too long", ": the header promises ",
                 count, " bytes of data but ", r.remaining(), " follow");
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(r.position()));
  a.values = std::move(bytes);
  return a;
}

RawDataset read_idx_pair(const fs::path& images, const fs::path& labels, int64_t num_classes,
                         std::vector<std::string> class_names) {
  IdxUbyteArray img = read_idx_ubyte(images, 3);
  IdxUbyteArray lab = read_idx_ubyte(labels, 1);
  RawDataset ds;
  ds.n = std::min(img.dims[0], lab.dims[0]);
  if (img.dims[0] != lab.dims[0])
    data_warning(images.string(), " holds ", img.dims[0], " images but ", labels.string(), " holds ", lab.dims[0],
                 " labels; using the first ", ds.n);
  ds.channels = 1;
  ds.height = img.dims[1];
  ds.width = img.dims[2];
  img.values.resize(static_cast<size_t>(ds.n * ds.image_bytes()));
  ds.pixels = std::move(img.values);  // H x W, one channel: already HWC
  ds.num_classes = num_classes;
  ds.class_names = std::move(class_names);
  ds.labels.resize(ds.n);
  for (int64_t i = 0; i < ds.n; ++i) {
    ds.labels[i] = lab.values[i];
    COLLAPSE_CHECK(ds.labels[i] < num_classes, labels.string(), ": label ", ds.labels[i], " of example ", i,
                   " is out of range [0, ", num_classes, ")");
  }
  check_raw_dataset(ds, images.string());
  return ds;
}

RawDataset read_mnist_family(const fs::path& dir, Split split, int64_t num_classes,
                             std::vector<std::string> class_names) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  // Looked up one after the other, so a folder missing both reports the images file first.
  const fs::path images = existing_plain_or_gz(dir / (prefix + "-images-idx3-ubyte"));
  const fs::path labels = existing_plain_or_gz(dir / (prefix + "-labels-idx1-ubyte"));
  return read_idx_pair(images, labels, num_classes, std::move(class_names));
}

}  // namespace collapse
