#pragma once
// Extra measurements taken at each measured epoch beside the core NC metrics: a registry, so a new
// measurement is one file with one COLLAPSE_REGISTER_MEASUREMENT line, and nc-experiment --measure NAME
// runs it. Each returns a JSON value stored under its name in that epoch's metrics.jsonl line.
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/registration.h"
#include "data/data_loader.h"
#include "layers/models/network.h"
#include "nc/metrics.h"

namespace collapse::nc {

struct MeasurementContext {
  Network& model;
  DataLoader& train;       // evaluation loader over the (rebalanced) training set
  DataLoader* test;        // evaluation loader over the test set, or null
  Device device;
  int epoch;
  uint64_t seed;           // the run's seed (for measurements that sample)
  const CollapseMetrics& metrics;  // the core metrics of this epoch
  double mse_target = 1.0;         // κ of the MSE targets κ·e_y (--mse-target), for mse_decomposition
  double weight_decay = 0.0;       // the run's λ, for mse_decomposition
};

using MeasurementFn = std::function<nlohmann::json(MeasurementContext&)>;

struct MeasurementInfo {
  std::string name;
  std::string description;
  bool default_on;  // taken unless the user narrows --measure
  MeasurementFn fn;
};

bool register_measurement(MeasurementInfo info);
const std::vector<MeasurementInfo>& registered_measurements();
const MeasurementInfo& find_measurement(const std::string& name);  // error lists the registered names

}  // namespace collapse::nc

#define COLLAPSE_REGISTER_MEASUREMENT(...)                                                              \
  [[maybe_unused]] static const bool COLLAPSE_CONCAT(collapse_measurement_registered_, __COUNTER__) = \
      ::collapse::nc::register_measurement(::collapse::nc::MeasurementInfo{__VA_ARGS__})
