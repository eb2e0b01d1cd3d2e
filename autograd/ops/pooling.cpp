#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
Shape pooled_shape(const char* op, const Tensor& x, const Pool2dParams& p) { return pool2d_output_shape(op, x.shape(), p); }

// What every pooling backward needs to allocate the input's gradient.
struct PoolNodeBase : Node {
  Shape x_shape;
  DType dtype = DType::f32;
  Device device;
  Pool2dParams p;
  Tensor input_grad_buffer() const { return Tensor::empty_activation(x_shape, dtype, device); }
};

template <class N>
std::shared_ptr<N> make_pool_node(const Variable& x, const Pool2dParams& p) {
  if (!any_requires_grad({x})) return nullptr;
  auto node = std::make_shared<N>();
  node->x_shape = x.data().shape();
  node->dtype = x.data().dtype();
  node->device = x.data().device();
  node->p = p;
  return node;
}

struct MaxPoolNode final : PoolNodeBase {
  Tensor workspace;
  const char* name() const override { return "max_pool2d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = input_grad_buffer();
    max_pool2d_backward(dy, workspace, p, dx);
    return {dx};
  }
  void release_saved() override { workspace = Tensor(); }
};

struct AvgPoolNode final : PoolNodeBase {
  const char* name() const override { return "avg_pool2d"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = input_grad_buffer();
    avg_pool2d_backward(dy, p, dx);
    return {dx};
  }
};

struct GlobalAvgPoolNode final : PoolNodeBase {
  const char* name() const override { return "global_avg_pool"; }
  std::vector<Tensor> backward(const Tensor& dy) override {
    Tensor dx = input_grad_buffer();
    global_avg_pool_backward(dy, dx);
    return {dx};
  }
};
}  // namespace

Variable max_pool2d(const Variable& x, const Pool2dParams& p) {
  const Tensor& xt = x.data();
  Tensor y = Tensor::empty_activation(pooled_shape("max_pool2d", xt, p), xt.dtype(), xt.device());
  Tensor workspace;
  max_pool2d_forward(xt, p, y, workspace);
  auto node = make_pool_node<MaxPoolNode>(x, p);
  if (node) node->workspace = workspace;
  return attach_node(std::move(y), {x}, std::move(node));
}

Variable avg_pool2d(const Variable& x, const Pool2dParams& p) {
  const Tensor& xt = x.data();
  Tensor y = Tensor::empty_activation(pooled_shape("avg_pool2d", xt, p), xt.dtype(), xt.device());
  avg_pool2d_forward(xt, p, y);
  auto node = make_pool_node<AvgPoolNode>(x, p);
  return attach_node(std::move(y), {x}, std::move(node));
}

Variable global_avg_pool(const Variable& x) {
  const Tensor& xt = x.data();
  COLLAPSE_CHECK(xt.dim() == 4, "global_avg_pool: needs a 4-D input, got ", xt.str());
  Tensor y = Tensor::empty({xt.size(0), xt.size(1)}, xt.dtype(), xt.device());
  global_avg_pool_forward(xt, y);
  auto node = make_pool_node<GlobalAvgPoolNode>(x, Pool2dParams{});
  return attach_node(std::move(y), {x}, std::move(node));
}

}  // namespace collapse
