#pragma once
// Kernel dispatch. Every primitive is a `Kernel<Signature>` slot with one implementation per backend:
//   ref  - plain loops templated on float/double (the test oracle, and every float64 computation),
//   cpu  - oneDNN + OpenMP (float32 on the CPU, the default),
//   cuda - cuDNN + cuBLAS + small kernels.
// Implementations register themselves from their own .cpp file with COLLAPSE_REGISTER_KERNEL, so adding
// a primitive or a backend never edits a central table. Which backend runs follows the tensors: CUDA
// tensors go to cuda, float64 to ref, float32 CPU tensors to cpu unless a ReferenceModeGuard is active.
#include <array>
#include <string>

#include "core/error.h"
#include "core/profiler.h"
#include "core/registration.h"
#include "core/tensor.h"

namespace collapse {

enum class Impl : int { ref = 0, cpu = 1, cuda = 2 };
inline constexpr int kNumImpls = 3;
const char* impl_name(Impl i);

// Forces float32 CPU work onto the reference backend (tests compare the two this way).
class ReferenceModeGuard {
 public:
  ReferenceModeGuard();
  ~ReferenceModeGuard();
  ReferenceModeGuard(const ReferenceModeGuard&) = delete;
  ReferenceModeGuard& operator=(const ReferenceModeGuard&) = delete;

 private:
  bool previous_;
};
bool reference_mode();

// The backend that runs an op whose main operand is `t`.
Impl impl_for(const Tensor& t);

template <class Fn>
struct Kernel {
  const char* name;
  std::array<Fn*, kNumImpls> impls{};

  Fn* get(Impl i) const {
    Fn* f = impls[static_cast<int>(i)];
    COLLAPSE_CHECK(f, name, ": no ", impl_name(i), " implementation is registered");
    return f;
  }
  bool has(Impl i) const { return impls[static_cast<int>(i)] != nullptr; }
  // Calls the implementation chosen for `t`, which only selects the backend and is not passed on:
  //   conv2d_forward(x, x, w, b, params, y)  runs the backend of x with arguments (x, w, b, params, y).
  template <class... Args>
  decltype(auto) operator()(const Tensor& t, Args&&... args) const {
    if (profile::enabled()) {
      profile::OpTimer timer(name);
      return get(impl_for(t))(std::forward<Args>(args)...);
    }
    return get(impl_for(t))(std::forward<Args>(args)...);
  }
};

// A second implementation for the same slot and backend is a bug (two files claiming one kernel):
// it fails at load time rather than silently replacing the first.
template <class Fn>
bool register_kernel(Kernel<Fn>& kernel, Impl impl, Fn* fn) {
  Fn*& slot = kernel.impls[static_cast<int>(impl)];
  COLLAPSE_CHECK(slot == nullptr || slot == fn, kernel.name, ": a second ", impl_name(impl),
                 " implementation was registered");
  slot = fn;
  return true;
}

}  // namespace collapse

// COLLAPSE_REGISTER_KERNEL(relu_forward, cpu, cpu_relu_forward);  at namespace scope in the backend's file.
#define COLLAPSE_REGISTER_KERNEL(kernel, impl, fn)                                                \
  [[maybe_unused]] static const bool COLLAPSE_CONCAT(collapse_registered_, __COUNTER__) =          \
      ::collapse::register_kernel(::collapse::kernel, ::collapse::Impl::impl, fn)
