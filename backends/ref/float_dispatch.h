#pragma once
// Runs a kernel template for the tensor's float type. Dispatch sends float64 tensors (and float32 ones
// under ReferenceModeGuard) to the reference backend, so every entry point switches on the dtype once.
#include "core/dtype.h"
#include "core/error.h"

namespace collapse::ref {

// fn(float{}) or fn(double{}); the argument is only a type tag: `using T = decltype(tag);`.
template <class Fn>
void dispatch_float(const char* op, DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::f32: fn(float{}); return;
    case DType::f64: fn(double{}); return;
    default: COLLAPSE_FAIL(op, ": the reference backend computes in float32 or float64, got ", dtype_name(dtype));
  }
}

}  // namespace collapse::ref
