#pragma once
// A read-only pointer to float or double values. The analysis accepts features, logits and classifier
// weights in either precision (float32 from a model, float64 from a file or a test) through one entry
// point each, instead of an overload per combination; everything is accumulated in double regardless.
#include <variant>

#include "core/error.h"

namespace collapse::nc {

class RealPointer {
 public:
  RealPointer(const float* p) : ptr_(p) {}   // NOLINT: implicit on purpose, so callers pass raw pointers
  RealPointer(const double* p) : ptr_(p) {}  // NOLINT

  bool is_null() const {
    return std::visit([](auto p) { return p == nullptr; }, ptr_);
  }
  // f(const T*) with T = float or double.
  template <class F>
  decltype(auto) visit(F&& f) const {
    return std::visit(std::forward<F>(f), ptr_);
  }

 private:
  std::variant<const float*, const double*> ptr_;
};

}  // namespace collapse::nc
