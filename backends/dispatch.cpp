#include "backends/dispatch.h"

namespace collapse {
namespace {
thread_local bool g_reference_mode = false;
}

const char* impl_name(Impl i) {
  switch (i) {
    case Impl::ref: return "ref";
    case Impl::cpu: return "cpu";
    case Impl::cuda: return "cuda";
  }
  return "?";
}

ReferenceModeGuard::ReferenceModeGuard() : previous_(g_reference_mode) { g_reference_mode = true; }
ReferenceModeGuard::~ReferenceModeGuard() { g_reference_mode = previous_; }
bool reference_mode() { return g_reference_mode; }

Impl impl_for(const Tensor& t) {
  if (t.device().is_cuda()) return Impl::cuda;
  if (t.dtype() == DType::f64 || g_reference_mode) return Impl::ref;
  return Impl::cpu;
}

void check_backend_accepts(const char* op, Impl impl, const Tensor& t) {
  const bool cpu_float = t.device().is_cpu() && (t.dtype() == DType::f32 || t.dtype() == DType::f64);
  const bool accepted = impl == Impl::cuda  ? t.device().is_cuda()
                        : impl == Impl::cpu ? t.device().is_cpu() && t.dtype() == DType::f32
                                            : cpu_float;
  COLLAPSE_CHECK(accepted, op, ": the ", impl_name(impl), " backend cannot run on ", t.str(), " (",
                 impl == Impl::cuda ? "it needs tensors on a CUDA device"
                 : impl == Impl::cpu ? "it runs float32 on the cpu"
                                     : "it runs float32 or float64 on the cpu",
                 ")");
}

}  // namespace collapse
