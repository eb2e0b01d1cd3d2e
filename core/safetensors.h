#pragma once
// The safetensors format (8-byte little-endian header length, a JSON header mapping names to dtype, shape
// and byte offsets, then raw little-endian data), so checkpoints open in PyTorch (safetensors.torch.load_file)
// and other tools. Tensors are stored row-major whatever their layout in memory.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace collapse {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// Written atomically (temporary file + rename). `metadata` goes to the header's "__metadata__".
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});
// A truncated or corrupt file, an unknown dtype or offsets that do not fit is a collapse::Error naming the file.
NamedTensors load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata = nullptr);

}  // namespace collapse
