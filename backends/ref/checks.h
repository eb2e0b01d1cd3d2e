#pragma once
// Argument validation for the reference kernels. Every failure throws collapse::Error with a message
// that starts with the op's name and shows the offending tensor next to what was expected, e.g.
//   conv2d_forward: y is float32[2, 4, 5, 5] cpu channels_last, expected shape [2, 4, 6, 6]
#include <string>

#include "core/error.h"
#include "core/tensor.h"

namespace collapse::ref {

class ArgCheck {
 public:
  explicit ArgCheck(const char* op) : op_(op) {}

  // The tensor that fixes the op's dtype: defined, on the CPU, float32 or float64.
  void float_input(const Tensor& t, const char* name) const {
    present(t, name);
    COLLAPSE_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, op_, ": ", name,
                   " must be float32 or float64, got ", t.str());
  }
  // Defined, on the CPU, with the same dtype as `like`: no silent mixing of precisions.
  void same_dtype(const Tensor& t, const char* name, const Tensor& like, const char* like_name) const {
    present(t, name);
    COLLAPSE_CHECK(t.dtype() == like.dtype(), op_, ": ", name, " is ", t.str(), " but ", like_name, " is ",
                   like.str(), " (dtypes must match)");
  }
  void dtype(const Tensor& t, const char* name, DType expected) const {
    present(t, name);
    COLLAPSE_CHECK(t.dtype() == expected, op_, ": ", name, " is ", t.str(), ", expected ", dtype_name(expected));
  }
  void rank(const Tensor& t, const char* name, int64_t expected) const {
    COLLAPSE_CHECK(t.dim() == expected, op_, ": ", name, " is ", t.str(), ", expected ", expected, " dimensions");
  }
  // `source` says where the expected shape comes from ("the shape of x"), when that helps.
  void shape(const Tensor& t, const char* name, const Shape& expected, const std::string& source = "") const {
    COLLAPSE_CHECK(t.shape() == expected, op_, ": ", name, " is ", t.str(), ", expected shape ", shape_str(expected),
                   source.empty() ? "" : " (", source, source.empty() ? "" : ")");
  }
  // Same dtype and shape as `model`: outputs and gradients of elementwise ops.
  void like(const Tensor& t, const char* name, const Tensor& model, const char* model_name) const {
    same_dtype(t, name, model, model_name);
    shape(t, name, model.shape(), std::string("the shape of ") + model_name);
  }
  template <class... Args>
  void that(bool condition, const Args&... message) const {
    COLLAPSE_CHECK(condition, op_, ": ", message...);
  }

 private:
  void present(const Tensor& t, const char* name) const {
    COLLAPSE_CHECK(t.defined(), op_, ": ", name, " is undefined");
    COLLAPSE_CHECK(t.device().is_cpu(), op_, ": ", name, " is ", t.str(), "; the reference backend runs on the cpu");
  }

  const char* op_;
};

}  // namespace collapse::ref
