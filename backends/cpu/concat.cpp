// Channel concatenation (DenseNet). In the fast layouts (channels-last 4-D, row-major 2-D) every pixel
// (or sample) is one contiguous run of channels in y, made of one run per input: a single parallel pass
// over the pixels copies all inputs, instead of one strided pass per input.
#include <cstring>

#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

void cpu_concat_channels_forward(const std::vector<Tensor>& xs, Tensor& y) {
  std::vector<Tensor> ins;
  std::vector<int64_t> channels;
  int64_t total = 0;
  for (const Tensor& x : xs) {
    ins.push_back(fast_input(x));
    channels.push_back(x.size(1));
    total += x.size(1);
  }
  StagedOutput out(y);
  float* yp = out.data();
  std::vector<const float*> src;
  for (const Tensor& x : ins) src.push_back(x.data<float>());
  const int64_t pixels = y.numel() / std::max<int64_t>(total, 1);
  const size_t k = ins.size();
#pragma omp parallel for schedule(static)
  for (int64_t p = 0; p < pixels; ++p) {
    float* dst = yp + p * total;
    for (size_t i = 0; i < k; ++i) {
      std::memcpy(dst, src[i] + p * channels[i], channels[i] * sizeof(float));
      dst += channels[i];
    }
  }
  out.finish();
  y.storage()->bump_version();
}

}  // namespace

COLLAPSE_REGISTER_KERNEL(concat_channels_forward, cpu, &cpu_concat_channels_forward);

}  // namespace collapse::cpu
