#include "autograd/functional.h"
#include "autograd/node.h"

namespace collapse {
namespace {
struct ConcatNode final : Node {
  std::vector<int64_t> channels;
  const char* name() const override { return "concat_channels"; }
  // Each input's gradient is its channel slice of dy as a view (no copy): rows of channels[i] contiguous
  // values a row of dy apart when dy is channels-last (or a row-major [N,C]). The engine never writes into
  // a view (it adds in place only into a dense tensor it solely owns), add_forward and axpy read such
  // slices in place on the cpu, and every other consumer copies a non-dense input first (fast_input).
  std::vector<Tensor> backward(const Tensor& dy) override {
    std::vector<Tensor> g(channels.size());
    int64_t start = 0;
    for (size_t i = 0; i < channels.size(); ++i) {
      if (needs_input_grad(i)) g[i] = dy.narrow(1, start, channels[i]);
      start += channels[i];
    }
    return g;
  }
};

// `t` has `like`'s shape outside dim 1, its dtype and device.
void check_concatenable(const char* op, const Tensor& t, const Tensor& like) {
  Shape expect = like.shape();
  if (expect.size() > 1) expect[1] = t.dim() > 1 ? t.size(1) : -1;
  COLLAPSE_CHECK(like.dim() > 1 && t.shape() == expect && t.dtype() == like.dtype() && t.device() == like.device(),
                 op, ": input ", t.str(), " does not match ", like.str(), " outside dim 1");
}

}  // namespace

Variable concat_channels(const std::vector<Variable>& xs) {
  std::vector<Tensor> tensors;
  auto node = std::make_shared<ConcatNode>();
  for (const auto& v : xs) {
    tensors.push_back(v.data());
    node->channels.push_back(v.data().dim() > 1 ? v.data().size(1) : 0);
  }
  const Shape out_shape = concat_channels_shape(tensors);  // checks first: xs may be empty
  Tensor y = Tensor::empty_activation(out_shape, tensors[0].dtype(), tensors[0].device());
  concat_channels_forward(tensors, y);
  return attach_node(std::move(y), xs, std::move(node));
}

GrowingConcat::GrowingConcat(const Shape& shape, DType dtype, Device device)
    : buffer_(Tensor::empty_activation(shape, dtype, device)) {
  COLLAPSE_CHECK(shape.size() > 1, "GrowingConcat: buffer shape ", shape_str(shape), " has no channel dim");
}

void GrowingConcat::append(const Variable& x) {
  const Tensor& t = x.data();
  check_concatenable("GrowingConcat::append", t, buffer_);
  COLLAPSE_CHECK(filled_ + t.size(1) <= buffer_.size(1), "GrowingConcat::append: ", t.str(), " does not fit: ",
                 filled_, " of ", buffer_.size(1), " channels already used");
  buffer_.narrow(1, filled_, t.size(1)).copy_(t);
  filled_ += t.size(1);
  appended_.push_back(x);
}

Variable GrowingConcat::concatenation() {
  COLLAPSE_CHECK(filled_ > 0, "GrowingConcat::concatenation: nothing appended yet");
  if (appended_.empty()) return previous_;
  std::vector<Variable> parts;
  if (previous_.defined()) parts.push_back(previous_);
  parts.insert(parts.end(), appended_.begin(), appended_.end());
  auto node = std::make_shared<ConcatNode>();
  for (const auto& v : parts) node->channels.push_back(v.data().size(1));
  previous_ = attach_node(buffer_.narrow(1, 0, filled_), parts, std::move(node));
  appended_.clear();
  return previous_;
}

}  // namespace collapse
