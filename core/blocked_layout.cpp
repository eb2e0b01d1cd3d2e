#include "core/blocked_layout.h"

#include <cstring>

namespace collapse {

bool is_blocked(const Tensor& t) {
  return t.defined() && t.dim() == 5 && t.size(4) == kChannelBlock && t.is_contiguous();
}

Shape blocked_shape(const Shape& s) {
  COLLAPSE_CHECK(s.size() == 4 && s[1] % kChannelBlock == 0, "blocked_shape: ", shape_str(s),
                 " is not [N, C, H, W] with C a multiple of ", kChannelBlock);
  return {s[0], s[1] / kChannelBlock, s[2], s[3], kChannelBlock};
}

Shape unblocked_shape(const Shape& s) {
  COLLAPSE_CHECK(s.size() == 5 && s[4] == kChannelBlock, "unblocked_shape: ", shape_str(s),
                 " is not [N, C/16, H, W, 16]");
  return {s[0], s[1] * kChannelBlock, s[2], s[3]};
}

Shape logical_shape(const Tensor& t) { return is_blocked(t) ? unblocked_shape(t.shape()) : t.shape(); }

namespace {
// fn(blocked offset, channels-last offset) of every element; both tensors dense, float32 on the cpu.
template <class Fn>
void for_each_block_pair(const Shape& s, Fn&& fn) {
  const int64_t N = s[0], C = s[1], HW = s[2] * s[3], blocks = C / kChannelBlock;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t b = 0; b < blocks; ++b)
      for (int64_t p = 0; p < HW; ++p)
        fn(((n * blocks + b) * HW + p) * kChannelBlock, (n * HW + p) * C + b * kChannelBlock);
}
void check_cpu_float(const Tensor& t, const char* what) {
  COLLAPSE_CHECK(t.device().is_cpu() && t.dtype() == DType::f32, what, ": ", t.str(), " is not float32 on the cpu");
}
}  // namespace

Tensor to_blocked(const Tensor& t) {
  check_cpu_float(t, "to_blocked");
  const Tensor src = t.contiguous(MemoryFormat::channels_last);
  Tensor out = Tensor::empty(blocked_shape(t.shape()));
  const float* from = src.data<float>();
  float* to = out.data<float>();
  for_each_block_pair(t.shape(), [&](int64_t blocked, int64_t plain) {
    std::memcpy(to + blocked, from + plain, kChannelBlock * sizeof(float));
  });
  return out;
}

Tensor from_blocked(const Tensor& blocked) {
  check_cpu_float(blocked, "from_blocked");
  COLLAPSE_CHECK(is_blocked(blocked), "from_blocked: ", blocked.str(), " is not a blocked [N, C/16, H, W, 16] tensor");
  const Shape s = unblocked_shape(blocked.shape());
  Tensor out = Tensor::empty(s, DType::f32, Device::cpu(), MemoryFormat::channels_last);
  const float* from = blocked.data<float>();
  float* to = out.data<float>();
  for_each_block_pair(s, [&](int64_t b, int64_t plain) {
    std::memcpy(to + plain, from + b, kChannelBlock * sizeof(float));
  });
  return out;
}

namespace {
const EnvSwitch& blocked_switch() {
  static const EnvSwitch s("COLLAPSE_BLOCKED_ACTIVATIONS", true);
  return s;
}
}  // namespace

bool blocked_activations_enabled() { return blocked_switch().enabled(); }
const char* blocked_activations_status() { return blocked_switch().status(); }

BlockedActivationsGuard::BlockedActivationsGuard(bool enabled) : guard_(blocked_switch(), enabled) {}

}  // namespace collapse
