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

}  // namespace collapse
