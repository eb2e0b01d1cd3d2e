#include "core/init.h"

#include <cmath>

namespace collapse {
namespace {
// Draws on the host in row-major order (so the numbers do not depend on the layout or device), then copies.
template <class Draw>
void fill_host(Tensor& t, Draw&& draw) {
  Tensor host = Tensor::empty(t.shape(), DType::f64);
  double* p = host.data<double>();
  for (int64_t i = 0; i < host.numel(); ++i) p[i] = draw();
  t.copy_(host);
}
}  // namespace

void kaiming_normal_fan_out(Tensor& weight, Generator& gen) {
  COLLAPSE_CHECK(weight.dim() >= 2, "kaiming_normal_fan_out: weight must have at least 2 dims, got ", weight.str());
  int64_t receptive = 1;
  for (int64_t d = 2; d < weight.dim(); ++d) receptive *= weight.size(d);
  const double std = std::sqrt(2.0 / static_cast<double>(weight.size(0) * receptive));
  fill_host(weight, [&] { return std * gen.normal(); });
}

void uniform_(Tensor& t, double bound, Generator& gen) {
  fill_host(t, [&] { return gen.uniform(-bound, bound); });
}

void normal_(Tensor& t, double mean, double std, Generator& gen) {
  fill_host(t, [&] { return mean + std * gen.normal(); });
}

}  // namespace collapse
