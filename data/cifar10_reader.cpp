#include "data/cifar_reader.h"

#include <string>

#include "core/error.h"
#include "data/class_names.h"
#include "data/warn.h"

namespace collapse {

namespace fs = std::filesystem;

RawDataset read_cifar10(const fs::path& dir, Split split) {
  constexpr int64_t kClasses = 10;
  const CifarRecordFormat format{{kClasses}, 0};
  RawDataset ds;
  if (split == Split::test) {
    append_cifar_file(dir / "test_batch.bin", format, ds);
  } else {
    // Read whichever of the five training batches exist: subsets ship fewer, but say so.
    int found = 0;
    for (int b = 1; b <= 5; ++b) {
      const fs::path file = dir / ("data_batch_" + std::to_string(b) + ".bin");
      if (!fs::exists(file)) continue;
      append_cifar_file(file, format, ds);
      ++found;
    }
    COLLAPSE_CHECK(found > 0, "missing file: ", (dir / "data_batch_1.bin").string(),
                   " (no CIFAR-10 training batch data_batch_1..5.bin in ", dir.string(), ")");
    if (found < 5) data_warning(dir.string(), ": only ", found, " of the 5 CIFAR-10 training batches are present");
  }
  ds.num_classes = kClasses;
  ds.class_names = read_class_names_or(dir / "batches.meta.txt", kClasses,
                                       {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                        "ship", "truck"});
  check_raw_dataset(ds, dir.string());
  return ds;
}

}  // namespace collapse
