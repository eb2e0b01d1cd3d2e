#pragma once
// What a run read, for config.json: the folder the dataset's reader actually used (Fashion-MNIST may come
// from Debian's copy whatever --data-root says), each file there with its size and CRC-32 (files above
// 1 GiB, and image folders of thousands of files, are counted, not hashed: said in the record), and the
// per-channel mean and std the images were normalised with.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "data/registry.h"

namespace collapse::experiment {

nlohmann::json data_provenance(const DatasetInfo& info, const std::filesystem::path& root, const ChannelStats& stats);

}  // namespace collapse::experiment
