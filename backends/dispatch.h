#pragma once
// Kernel dispatch. Every primitive is a `Kernel<Signature>` slot with its argument rules and one
// implementation per backend:
//   ref  - plain loops templated on float/double (the test oracle, and every float64 computation),
//   cpu  - oneDNN + OpenMP (float32 on the CPU, the default),
//   cuda - cuDNN + cuBLAS + small kernels.
// Implementations register themselves from their own .cpp file with COLLAPSE_REGISTER_KERNEL, so adding
// a primitive or a backend never edits a central table. Which backend runs follows the tensors: CUDA
// tensors go to cuda, float64 to ref, float32 CPU tensors to cpu unless a ReferenceModeGuard is active.
#include <array>
#include <string>
#include <type_traits>
#include <vector>

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
// Throws unless backend `impl` can run an op whose main operand is `t` (ref: float32/float64 on the cpu;
// cpu: float32 on the cpu; cuda: a CUDA device): an explicit `.on(Impl::...)` cannot hand a kernel a
// tensor it was never written for.
void check_backend_accepts(const char* op, Impl impl, const Tensor& t);

namespace detail {
// The main operand of a call: its first defined tensor argument (a tensor list counts with its first
// defined element). Other arguments are skipped.
inline const Tensor* defined_tensor(const Tensor& t) { return t.defined() ? &t : nullptr; }
inline const Tensor* defined_tensor(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts)
    if (t.defined()) return &t;
  return nullptr;
}
template <class T>
const Tensor* defined_tensor(const T&) { return nullptr; }
template <class T>
inline constexpr bool is_tensor_argument =
    std::is_same_v<std::decay_t<T>, Tensor> || std::is_same_v<std::decay_t<T>, std::vector<Tensor>>;
}  // namespace detail

// The main operand of a call (its first defined tensor argument); throws when every one is undefined.
template <class... Args>
const Tensor& main_operand(const char* op, const Args&... args) {
  const Tensor* main = nullptr;
  ((main = main ? main : detail::defined_tensor(args)), ...);
  COLLAPSE_CHECK(main, op, ": every tensor argument is undefined");
  return *main;
}

// One primitive: its argument rules (`check`, shared by every backend: backends/shapes.h) and one
// implementation per backend. A call runs the check, then the backend chosen by the main operand:
//   conv2d_forward(x, w, b, params, y)          x picks the backend
//   channel_affine(Tensor(), x, ...)            the first defined tensor, x, picks it
//   conv2d_forward.on(Impl::ref)(x, w, ...)     an explicit backend (tests compare backends this way)
//   sgd_update.on(t)(...)                       the backend of t
// Calls take the slot's exact parameter types, so a wrong argument fails at the call site. Implementations
// may rely on every rule of `check` (shapes, dtypes and devices agree with the main operand's) and only
// test what is private to them (a workspace's format, a label's range on the device).
template <class Fn>
struct Kernel;

template <class R, class... Params>
struct Kernel<R(Params...)> {
  using Fn = R(Params...);
  static_assert((detail::is_tensor_argument<Params> || ...), "a kernel needs a tensor parameter to choose its backend");

  const char* name;
  Fn* check;  // the argument rules, for every backend
  std::array<Fn*, kNumImpls> impls{};

  Fn* get(Impl i) const {
    Fn* f = impls[static_cast<int>(i)];
    COLLAPSE_CHECK(f, name, ": no ", impl_name(i), " implementation is registered");
    return f;
  }
  bool has(Impl i) const { return impls[static_cast<int>(i)] != nullptr; }

  // The kernel bound to one backend: refuses a main operand that backend was not written for, then runs.
  struct Bound {
    const Kernel& kernel;
    Impl impl;
    R operator()(Params... args) const {
      check_backend_accepts(kernel.name, impl, main_operand(kernel.name, args...));
      return kernel.run(impl, std::forward<Params>(args)...);
    }
  };
  Bound on(Impl impl) const { return {*this, impl}; }
  Bound on(const Tensor& t) const { return {*this, impl_for(t)}; }

  // Runs the backend of the first defined tensor argument (which by construction accepts it).
  R operator()(Params... args) const {
    return run(impl_for(main_operand(name, args...)), std::forward<Params>(args)...);
  }

 private:
  // The argument rules, then the implementation of `impl` (timed when profiling).
  R run(Impl impl, Params... args) const {
    Fn* const fn = get(impl);
    check(args...);
    if (profile::enabled()) {
      profile::OpTimer timer(name);
      return fn(std::forward<Params>(args)...);
    }
    return fn(std::forward<Params>(args)...);
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
