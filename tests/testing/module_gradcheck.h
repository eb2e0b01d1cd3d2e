#pragma once
// Gradient checks of modules and compositions of ops through autograd (float64), for layer tests;
// header-only, beside gradcheck.h (which checks single kernels).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "layers/module.h"
#include "tests/testing/gradcheck.h"

namespace collapse::testing {

// Layers create float32 parameters; a float64 gradient check converts them (the Variables are shared
// handles, so the module sees the new tensors).
inline void parameters_to_double(Module& m) {
  for (Variable p : m.parameters()) p.data() = p.data().to(DType::f64);
}

// Autograd against finite differences: for loss = sum(f() ⊙ r), every leaf's .grad after backward(r)
// must match numerical_gradient of the loss with respect to that leaf's data.
inline void expect_autograd_matches_finite_differences(const std::function<Variable()>& f,
                                                std::vector<std::pair<std::string, Variable>> leaves, Generator& gen,
                                                double tol) {
  for (auto& [name, v] : leaves) v.zero_grad();
  const Variable y = f();
  const Tensor r = random_tensor(y.shape(), y.data().dtype(), gen);
  y.backward(r);
  auto loss = [&] {
    NoGradGuard no_grad;
    return dot(f().data(), r);
  };
  for (auto& [name, v] : leaves) {
    ASSERT_TRUE(v.grad().defined()) << name << " got no gradient";
    expect_gradient_matches(loss, v.data(), v.grad(), tol, name);
  }
}

}  // namespace collapse::testing
