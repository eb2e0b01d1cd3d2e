#include "layers/models/network.h"

#include "backends/dispatch.h"

namespace collapse {
namespace {
struct Entry {
  ModelBuilder builder;
  std::string description;
};
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;
  return r;
}
}  // namespace

bool register_model(const std::string& arch, ModelBuilder builder, std::string description) {
  registry()[arch] = {std::move(builder), std::move(description)};
  return true;
}

std::vector<std::string> registered_models() {
  std::vector<std::string> names;
  for (auto& [n, e] : registry()) names.push_back(n);
  return names;
}

std::string model_description(const std::string& arch) {
  auto it = registry().find(arch);
  return it == registry().end() ? "" : it->second.description;
}

NetworkPtr build_model(const ModelConfig& config, Generator& gen) {
  auto it = registry().find(config.arch);
  if (it == registry().end()) {
    std::string names;
    for (auto& n : registered_models()) names += (names.empty() ? "" : ", ") + n;
    COLLAPSE_FAIL("unknown architecture '", config.arch, "' (registered: ", names, ")");
  }
  COLLAPSE_CHECK(config.width > 0 && config.in_channels > 0 && config.image_size > 0 && config.num_classes > 1,
                 "build_model: bad configuration for ", config.arch, ": width ", config.width, ", in_channels ",
                 config.in_channels, ", image_size ", config.image_size, ", num_classes ", config.num_classes);
  return it->second.builder(config, gen);
}

}  // namespace collapse
