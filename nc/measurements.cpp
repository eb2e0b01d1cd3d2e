#include "nc/measurements.h"

#include "backends/dispatch.h"

namespace collapse::nc {
namespace {
std::vector<MeasurementInfo>& registry() {
  static std::vector<MeasurementInfo> r;
  return r;
}
}  // namespace

bool register_measurement(MeasurementInfo info) {
  for (auto& m : registry()) COLLAPSE_CHECK(m.name != info.name, "measurement '", info.name, "' registered twice");
  registry().push_back(std::move(info));
  return true;
}

const std::vector<MeasurementInfo>& registered_measurements() { return registry(); }

const MeasurementInfo& find_measurement(const std::string& name) {
  std::string names;
  for (auto& m : registry()) {
    if (m.name == name) return m;
    names += (names.empty() ? "" : ", ") + m.name;
  }
  COLLAPSE_FAIL("unknown measurement '", name, "' (registered: ", names, ")");
}

}  // namespace collapse::nc
