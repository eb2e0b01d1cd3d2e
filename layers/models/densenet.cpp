#include "layers/models/densenet.h"

namespace collapse {

DenseLayer::DenseLayer(int64_t in, int64_t growth, int64_t bottleneck, Generator& gen) : Module("DenseLayer") {
  norm1_ = register_module("norm1", std::make_shared<BatchNormReLU2d>(in));
  conv1_ = register_module("conv1", std::make_shared<Conv2d>(in, bottleneck, 1, 1, 0, false, gen));
  norm2_ = register_module("norm2", std::make_shared<BatchNormReLU2d>(bottleneck));
  conv2_ = register_module("conv2", std::make_shared<Conv2d>(bottleneck, growth, 3, 1, 1, false, gen));
}

Variable DenseLayer::forward(const Variable& x) {
  Variable h = (*conv1_)((*norm1_)(x));
  return (*conv2_)((*norm2_)(h));
}

DenseBlock::DenseBlock(int64_t layers, int64_t in, int64_t growth, int64_t bottleneck, Generator& gen)
    : Module("DenseBlock"), out_channels_(in + layers * growth) {
  for (int64_t i = 0; i < layers; ++i)
    register_module("denselayer" + std::to_string(i + 1),
                    std::make_shared<DenseLayer>(in + i * growth, growth, bottleneck, gen));
}

// The block's feature maps side by side in one buffer (GrowingConcat): each layer's input, the
// concatenation of x and every earlier layer's output, is a view of the buffer's first channels, and each
// output is copied once into its own channels, instead of all earlier maps being copied for every layer.
Variable DenseBlock::forward(const Variable& x) {
  Shape shape = x.shape();
  shape[1] = out_channels_;
  GrowingConcat features(shape, x.data().dtype(), x.data().device());
  features.append(x);
  for (auto& [name, layer] : children()) features.append((*layer)(features.concatenation()));
  return features.concatenation();
}

namespace {
struct DenseNetLayout {
  bool imagenet;
  int64_t growth;
  std::vector<int64_t> blocks;
};

}  // namespace

int64_t densenet_default_growth_rate(int depth) { return depth == 121 || depth == 169 || depth == 201 ? 32 : 12; }

namespace {
DenseNetLayout densenet_layout(int depth) {
  switch (depth) {
    case 121: return {true, densenet_default_growth_rate(depth), {6, 12, 24, 16}};
    case 169: return {true, densenet_default_growth_rate(depth), {6, 12, 32, 32}};
    case 201: return {true, densenet_default_growth_rate(depth), {6, 12, 48, 32}};
  }
  COLLAPSE_CHECK(depth >= 10 && (depth - 4) % 6 == 0, "densenet: depth ", depth,
                 " is neither 121/169/201 nor a DenseNet-BC depth 6n+4 (40, 100, 250)");
  const int64_t n = (depth - 4) / 6;
  return {false, densenet_default_growth_rate(depth), {n, n, n}};
}

std::shared_ptr<Sequential> transition(int64_t in, int64_t out, Generator& gen) {
  auto t = std::make_shared<Sequential>();
  t->add(std::make_shared<BatchNormReLU2d>(in), "norm");
  t->add(std::make_shared<ReLU>(), "relu");
  t->add(std::make_shared<Conv2d>(in, out, 1, 1, 0, false, gen), "conv");
  t->add(std::make_shared<AvgPool2d>(2, 2), "pool");
  return t;
}
}  // namespace

DenseNet::DenseNet(const ModelConfig& cfg, Generator& gen) : Network("DenseNet") {
  const DenseNetLayout layout = densenet_layout(cfg.depth);
  COLLAPSE_CHECK(layout.imagenet == (cfg.image_size > 96), "densenet", cfg.depth, " is built for ",
                 layout.imagenet ? "ImageNet-size" : "small (<= 96 px)", " inputs, got ", cfg.image_size, "x",
                 cfg.image_size);
  const int64_t growth = scaled_channels(cfg.growth_rate > 0 ? cfg.growth_rate : layout.growth, cfg.width);
  const int64_t bottleneck = 4 * growth;
  features_ = register_module("features", std::make_shared<Sequential>());
  int64_t channels;
  if (layout.imagenet) {
    channels = scaled_channels(64, cfg.width);
    features_->add(std::make_shared<Conv2d>(cfg.in_channels, channels, 7, 2, 3, false, gen), "conv0");
    features_->add(std::make_shared<BatchNormReLU2d>(channels), "norm0");
    features_->add(std::make_shared<ReLU>(), "relu0");
    features_->add(std::make_shared<MaxPool2d>(3, 2, 1), "pool0");
  } else {
    channels = 2 * growth;
    features_->add(std::make_shared<Conv2d>(cfg.in_channels, channels, 3, 1, 1, false, gen), "conv0");
  }
  for (size_t i = 0; i < layout.blocks.size(); ++i) {
    auto block = std::make_shared<DenseBlock>(layout.blocks[i], channels, growth, bottleneck, gen);
    features_->add(block, "denseblock" + std::to_string(i + 1));
    channels = block->out_channels();
    if (i + 1 < layout.blocks.size()) {
      features_->add(transition(channels, channels / 2, gen), "transition" + std::to_string(i + 1));
      channels /= 2;
    }
  }
  // norm5 + relu5 (and each transition's norm + relu, the ImageNet stem's norm0 + relu0) are a BatchNormReLU
  // and a ReLU that Sequential calls on_rectified: one fused batch_norm_relu, under torchvision's names.
  features_->add(std::make_shared<BatchNormReLU2d>(channels), "norm5");
  features_->add(std::make_shared<ReLU>(), "relu5");
  classifier_ = register_module("classifier", std::make_shared<Linear>(channels, cfg.num_classes, gen));
}

Variable DenseNet::forward(const Variable& x) { return (*classifier_)(global_avg_pool((*features_)(x))); }

std::vector<std::pair<std::string, Module*>> DenseNet::stage_outputs() {
  std::vector<std::pair<std::string, Module*>> out;
  for (auto& [name, m] : features_->children())
    if (m->type_name() == "DenseBlock") out.emplace_back("features." + name, m.get());
  return out;
}

COLLAPSE_REGISTER_MODEL(
    "densenet", [](const ModelConfig& c, Generator& g) -> NetworkPtr { return std::make_shared<DenseNet>(c, g); },
    "DenseNet-BC 40/100/250 (k=12, small images) and 121/169/201 (k=32, ImageNet)");

}  // namespace collapse
