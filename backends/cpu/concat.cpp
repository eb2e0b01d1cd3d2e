// Channel concatenation (DenseNet). In the fast layouts (channels-last 4-D, row-major 2-D) every pixel
// (or sample) is one contiguous run of channels in y, made of one run per input: a single parallel pass
// over the pixels copies all inputs, instead of one strided pass per input.
#include <cstring>

#include "backends/cpu/onednn_common.h"

namespace collapse::cpu {
namespace {

void cpu_concat_channels_forward(const std::vector<Tensor>& xs, Tensor& y) {
  const char* op = "concat_channels_forward";
  check_f32_cpu(op, "output y", y);
  COLLAPSE_CHECK(y.dim() == 2 || y.dim() == 4, op, ": output y must be 2-D or 4-D, got ", shape_str(y.shape()));
  COLLAPSE_CHECK(!xs.empty(), op, ": no inputs");
  std::vector<Tensor> ins;
  std::vector<int64_t> channels;
  int64_t total = 0;
  for (const Tensor& x : xs) {
    check_f32_cpu(op, "input", x);
    Shape expected = y.shape();
    expected[1] = x.dim() == y.dim() ? x.size(1) : -1;
    COLLAPSE_CHECK(x.shape() == expected, op, ": input ", shape_str(x.shape()), " does not match output y ",
                   shape_str(y.shape()), " outside the channel dimension");
    ins.push_back(fast_input(x));
    channels.push_back(x.size(1));
    total += x.size(1);
  }
  COLLAPSE_CHECK(total == y.size(1), op, ": inputs have ", total, " channels in all, output y ", shape_str(y.shape()),
                 " has ", y.size(1));
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
