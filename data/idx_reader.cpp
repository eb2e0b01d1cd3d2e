#include "data/idx_reader.h"

#include <algorithm>

#include "core/checked_size.h"
#include "core/error.h"
#include "data/byte_reader.h"
#include "data/file_bytes.h"
#include "data/warn.h"
#include "data/zlib_inflate.h"

namespace collapse {

namespace fs = std::filesystem;

namespace {
constexpr uint8_t kIdxUnsignedByte = 0x08;
}

namespace {
// The dimensions an IDX header declares (magic 0 0 8 ndims, then ndims big-endian u32), from the first
// bytes of the file, and the file size they imply (checked: a crafted header cannot wrap it).
struct IdxHeader {
  std::vector<int64_t> dims;
  int64_t header_bytes = 0, total_bytes = 0;
};

IdxHeader parse_idx_header(const std::vector<uint8_t>& bytes, int64_t expected_ndims, const std::string& what) {
  ByteReader r(bytes.data(), bytes.size(), what, /*big_endian=*/true);
  const uint8_t* magic = r.take(4, "the IDX magic");
  COLLAPSE_CHECK(magic[0] == 0 && magic[1] == 0 && magic[2] == kIdxUnsignedByte && magic[3] == expected_ndims, what,
                 ": wrong magic ", int(magic[0]), " ", int(magic[1]), " ", int(magic[2]), " ", int(magic[3]),
                 ": expected an unsigned-byte IDX file with ", expected_ndims, " dimensions (0 0 8 ", expected_ndims,
                 ")");
  IdxHeader h;
  for (int64_t d = 0; d < expected_ndims; ++d) h.dims.push_back(r.u32("an IDX dimension"));
  h.header_bytes = static_cast<int64_t>(r.position());
  h.total_bytes = checked_add(h.header_bytes, checked_product(h.dims, what + ": the IDX dimensions"), what);
  return h;
}
}  // namespace

IdxUbyteArray read_idx_ubyte(const fs::path& path, int64_t expected_ndims) {
  const std::string what = path.string();
  std::vector<uint8_t> bytes = read_file_bytes(path);
  const bool gzipped = has_gzip_magic(bytes);
  // A gzipped file's header is read from its first inflated bytes, and the whole is inflated only up to
  // the size that header promises: a 2 MB file that inflates to gigabytes stops at the promise.
  const IdxHeader h = parse_idx_header(
      gzipped ? gunzip_head(bytes.data(), bytes.size(), static_cast<size_t>(4 + 4 * expected_ndims), what) : bytes,
      expected_ndims, what);
  if (gzipped) bytes = gunzip(bytes.data(), bytes.size(), what, static_cast<size_t>(h.total_bytes));
  const int64_t data_bytes = h.total_bytes - h.header_bytes;
  const int64_t present = static_cast<int64_t>(bytes.size()) - h.header_bytes;
  COLLAPSE_CHECK(present == data_bytes, what, ": ", present < data_bytes ? "truncated" : "too long",
                 ": the header promises ", data_bytes, " bytes of data but ", present, " follow");
  IdxUbyteArray a;
  a.dims = h.dims;
  bytes.erase(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(h.header_bytes));
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
