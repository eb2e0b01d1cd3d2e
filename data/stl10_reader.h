#pragma once
// STL-10 binary version (stl10_binary/): {train,test}_X.bin hold N images of 3x96x96 bytes, each channel
// stored column by column (MATLAB order, as the authors wrote them); {train,test}_y.bin hold N label
// bytes 1..10, mapped here to 0..9. The unlabelled split is not read. Names from class_names.txt.
#include <filesystem>

#include "data/raw_dataset.h"

namespace collapse {

RawDataset read_stl10(const std::filesystem::path& dir, Split split);

}  // namespace collapse
