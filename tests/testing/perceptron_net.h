#pragma once
// A two-layer perceptron as a Network, for tests of what measures a model (the analysis, its extra
// measurements): flatten -> Linear "hidden" -> ReLU -> Linear "fc", the classifier. Header-only.
#include <memory>

#include "autograd/functional.h"
#include "layers/models/network.h"

namespace collapse::testing {

class PerceptronNet : public Network {
 public:
  PerceptronNet(int64_t inputs, int64_t features, int64_t classes, Generator& gen) : Network("PerceptronNet") {
    hidden_ = register_module("hidden", std::make_shared<Linear>(inputs, features, gen));
    fc_ = register_module("fc", std::make_shared<Linear>(features, classes, gen));
  }
  Variable forward(const Variable& x) override { return (*fc_)(relu((*hidden_)(flatten(x)))); }
  Linear& classifier() override { return *fc_; }

 private:
  std::shared_ptr<Linear> hidden_, fc_;
};

}  // namespace collapse::testing
