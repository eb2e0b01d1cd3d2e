#pragma once
// Backend against reference: run one op on the backend a device's tensors dispatch to (the oneDNN cpu
// backend for Device::cpu(), the cuda backend for Device::cuda()) and again on CPU copies of the same inputs
// under ReferenceModeGuard (the plain-loop reference backend, accumulating in double), then expect every
// output to agree within a tolerance relative to the compared tensors' largest magnitude (max_rel_error).
// Header-only, like gradcheck.h.
//
// The op builds its device inputs with to_device() and its outputs on the device it is given, and returns
// its outputs; it is called twice, so it must not change the inputs it captures:
//
//   expect_backend_matches_ref(device, [&](Device d) {
//     const Tensor xd = to_device(x, d);
//     Tensor y = Tensor::empty(x.shape(), DType::f32, d);
//     relu_forward(xd, y);
//     return Outputs{y};
//   }, 1e-6, "relu", {"y"});
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "backends/kernels.h"
#include "core/tensor.h"
#include "tests/testing/gradcheck.h"

namespace collapse::testing {

using Outputs = std::vector<Tensor>;
// An op run on one device: its inputs moved there with to_device(), its outputs allocated there.
using DeviceOp = std::function<Outputs(Device)>;

// t on `device`, in the same layout (Tensor::to keeps channels-last / row-major); undefined stays undefined.
inline Tensor to_device(const Tensor& t, Device device) { return t.defined() ? t.to(device) : t; }
inline std::vector<Tensor> to_device(const std::vector<Tensor>& ts, Device device) {
  std::vector<Tensor> out;
  out.reserve(ts.size());
  for (const Tensor& t : ts) out.push_back(to_device(t, device));
  return out;
}

// Runs op(device) on that device's backend and op(Device::cpu()) under ReferenceModeGuard, and EXPECTs
// every output pair to agree within `tol` (max_rel_error). `names` name the outputs in failure messages
// and fix their number; without names, "output i" and only the two counts must agree.
inline void expect_backend_matches_ref(Device device, const DeviceOp& op, double tol, const std::string& context,
                                       const std::vector<std::string>& names = {}) {
  const Outputs got = op(device);
  Outputs ref;
  {
    ReferenceModeGuard guard;
    ref = op(Device::cpu());
  }
  if (names.empty()) {
    ASSERT_EQ(got.size(), ref.size()) << context;
  } else {
    ASSERT_EQ(got.size(), names.size()) << context;
    ASSERT_EQ(ref.size(), names.size()) << context;
  }
  for (size_t i = 0; i < got.size(); ++i) {
    const std::string name = names.empty() ? "output " + std::to_string(i) : names[i];
    ASSERT_EQ(got[i].device(), device) << context << ": " << name << " is " << got[i].str();
    ASSERT_EQ(got[i].shape(), ref[i].shape()) << context << ": " << name;
    const double err = max_rel_error(got[i], ref[i]);
    EXPECT_LT(err, tol) << context << ": " << name << " differs from the reference (max relative error " << err
                        << ", tolerance " << tol << ")";
  }
}

// The same for the cpu backend when the op has no device to choose: op() on the cpu backend, then under
// ReferenceModeGuard.
inline void expect_cpu_matches_ref(const std::function<Outputs()>& op, double tol, const std::string& context,
                                   const std::vector<std::string>& names = {}) {
  expect_backend_matches_ref(Device::cpu(), [&](Device) { return op(); }, tol, context, names);
}

}  // namespace collapse::testing
