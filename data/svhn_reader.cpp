#include "data/svhn_reader.h"

#include <cmath>

#include "core/error.h"
#include "data/class_names.h"
#include "data/mat_v5.h"
#include "data/pixel_layout.h"

namespace collapse {

namespace fs = std::filesystem;

RawDataset read_svhn_mat(const fs::path& path) {
  const std::string what = path.string();
  const std::vector<MatVariable> vars = read_mat_v5(path);
  const MatVariable& x = find_mat_variable(vars, "X", what);
  const MatVariable& y = find_mat_variable(vars, "y", what);

  // MATLAB drops trailing singleton dimensions, so a one-image X is 32x32x3.
  COLLAPSE_CHECK(x.array_class == kMxUint8 && x.stored_type == kMiUint8, what,
                 ": X must be a uint8 array (class ", x.array_class, ", stored as type ", x.stored_type, ")");
  COLLAPSE_CHECK((x.dims.size() == 4 || x.dims.size() == 3) && x.dims[2] == 3, what,
                 ": X must be H x W x 3 x N, got ", x.dims.size(), " dimensions");
  RawDataset ds;
  ds.height = x.dims[0];
  ds.width = x.dims[1];
  ds.channels = 3;
  ds.n = x.dims.size() == 4 ? x.dims[3] : 1;
  COLLAPSE_CHECK(y.numel() == ds.n, what, ": y holds ", y.numel(), " labels for ", ds.n, " images");

  const std::vector<double> values = mat_values_as_double(y, what);
  ds.num_classes = 10;
  ds.class_names = numbered_class_names(10);
  ds.labels.resize(ds.n);
  for (int64_t i = 0; i < ds.n; ++i) {
    const double v = values[i];
    COLLAPSE_CHECK(v >= 1 && v <= 10 && v == std::floor(v), what, ": label ", v, " of example ", i,
                   " is out of range (SVHN labels are 1..10, 10 meaning the digit 0)");
    ds.labels[i] = static_cast<int64_t>(v) % 10;
  }

  ds.pixels.resize(static_cast<size_t>(ds.n * ds.image_bytes()));
  const PlanarLayout layout = planar_column_major(ds.height, ds.width);
  for (int64_t i = 0; i < ds.n; ++i)
    planar_to_hwc(x.data() + i * ds.image_bytes(), layout, ds.channels, ds.height, ds.width, ds.image(i));
  check_raw_dataset(ds, what);
  return ds;
}

RawDataset read_svhn(const fs::path& dir, Split split) {
  return read_svhn_mat(dir / (split == Split::train ? "train_32x32.mat" : "test_32x32.mat"));
}

}  // namespace collapse
