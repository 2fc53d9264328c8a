// 3D DenseNet as MONAI builds it (monai/networks/nets/densenet.py, Project-MONAI/MONAI at
// 014f7dff: _DenseLayer, _DenseBlock, _Transition, DenseNet), written anew with MONAI's module
// names so MONAI checkpoints load by name.
#include "tomograd/models/densenet3d.hpp"

#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/models/batch_norm.hpp"

#include "stack.hpp"

namespace tomograd::models {

namespace {

namespace nn = torch::nn;

using detail::Stack;

// One dense layer: BN-ReLU-Conv1 (bottleneck, bn_size*k channels) BN-ReLU-Conv3 (k channels),
// optional dropout; its output is concatenated to its input. MONAI keeps the six layers in a
// Sequential named `layers` (norm1, relu1, conv1, norm2, relu2, conv2, dropout).
class DenseLayer3dImpl : public nn::Module {
 public:
  DenseLayer3dImpl(int64_t in, int64_t growth, int64_t bn_size, double dropout) {
    const int64_t mid = bn_size * growth;
    nn::Sequential s;
    s->push_back("norm1", BatchNorm3d(in));
    s->push_back("relu1", nn::ReLU());
    s->push_back("conv1", nn::Conv3d(nn::Conv3dOptions(in, mid, 1).bias(false)));
    s->push_back("norm2", BatchNorm3d(mid));
    s->push_back("relu2", nn::ReLU());
    s->push_back("conv2", nn::Conv3d(nn::Conv3dOptions(mid, growth, 3).padding(1).bias(false)));
    if (dropout > 0) s->push_back("dropout", Dropout3d(dropout));
    layers_ = register_module("layers", s);
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::cat({x, layers_->forward(x)}, 1); }

 private:
  nn::Sequential layers_{nullptr};
};
TORCH_MODULE(DenseLayer3d);

// MONAI's transition pool (average, kernel 2, stride 2) on every axis of at least 2 samples; an
// axis already down to 1 sample (16 slices reach 1 before the last transition) is kept, where
// PyTorch's pool would fail. Identical to MONAI whenever MONAI runs.
class TransitionPool3dImpl : public nn::Module {
 public:
  torch::Tensor forward(const torch::Tensor& x) {
    std::vector<int64_t> k(3);
    for (int a = 0; a < 3; ++a) k[a] = x.size(2 + a) >= 2 ? 2 : 1;
    return torch::avg_pool3d(x, k, k);
  }
};
TORCH_MODULE(TransitionPool3d);

void validate(const DenseNet3dOptions& o) {
  const auto& l = o.layout;
  auto fail = [](const std::string& key, const std::string& what) {
    throw ConfigError("densenet3d." + key + ": " + what);
  };
  if (l.init_features < 1) fail("init_features", "expected >= 1, got " + std::to_string(l.init_features));
  if (l.growth_rate < 1) fail("growth_rate", "expected >= 1, got " + std::to_string(l.growth_rate));
  if (l.bn_size < 1) fail("bn_size", "expected >= 1, got " + std::to_string(l.bn_size));
  if (l.block_config.empty()) fail("block_config", "expected at least one dense block");
  for (int64_t n : l.block_config) {
    if (n < 1) fail("block_config", "every block needs >= 1 layer, got " + std::to_string(n));
  }
  if (!(l.dropout >= 0.0 && l.dropout < 1.0)) fail("dropout", "expected in [0, 1), got " + std::to_string(l.dropout));
  if (o.in_channels < 1) fail("in_channels", "expected >= 1, got " + std::to_string(o.in_channels));
}

}  // namespace

void decode_densenet3d_layout(ConfigReader& r, DenseNet3dLayout& out) {
  r.get("init_features", out.init_features)
      .get("growth_rate", out.growth_rate)
      .get("block_config", out.block_config)
      .get("bn_size", out.bn_size)
      .get("dropout", out.dropout);
  r.finish();
}

DenseNet3dOptions DenseNet3dOptions::with(const DenseNet3dLayout& v) const {
  DenseNet3dOptions o = *this;
  if (v.init_features != 0) o.layout.init_features = v.init_features;
  if (v.growth_rate != 0) o.layout.growth_rate = v.growth_rate;
  if (!v.block_config.empty()) o.layout.block_config = v.block_config;
  if (v.bn_size != 0) o.layout.bn_size = v.bn_size;
  o.layout.dropout = v.dropout;
  return o;
}

DenseNet3dImpl::DenseNet3dImpl(const DenseNet3dOptions& options) : options_(options) {
  validate(options_);
  const auto& l = options_.layout;
  features_ = nn::Sequential();
  features_->push_back("conv0", nn::Conv3d(nn::Conv3dOptions(options_.in_channels, l.init_features, 7)
                                               .stride(2)
                                               .padding(3)
                                               .bias(false)));
  features_->push_back("norm0", BatchNorm3d(l.init_features));
  features_->push_back("relu0", nn::ReLU());
  features_->push_back("pool0", nn::MaxPool3d(nn::MaxPool3dOptions(3).stride(2).padding(1)));
  int64_t channels = l.init_features;
  for (size_t i = 0; i < l.block_config.size(); ++i) {
    Stack block;
    for (int64_t j = 0; j < l.block_config[i]; ++j) {
      block->push_back("denselayer" + std::to_string(j + 1),
                       DenseLayer3d(channels, l.growth_rate, l.bn_size, l.dropout));
      channels += l.growth_rate;
    }
    features_->push_back("denseblock" + std::to_string(i + 1), block);
    if (i + 1 == l.block_config.size()) {
      features_->push_back("norm5", BatchNorm3d(channels));
    } else {
      Stack t;
      t->push_back("norm", BatchNorm3d(channels));
      t->push_back("relu", nn::ReLU());
      t->push_back("conv", nn::Conv3d(nn::Conv3dOptions(channels, channels / 2, 1).bias(false)));
      t->push_back("pool", TransitionPool3d());
      features_->push_back("transition" + std::to_string(i + 1), t);
      channels /= 2;
    }
  }
  register_module("features", features_);

  // MONAI's initialization: He normal (fan_in) for convolutions, BatchNorm as identity.
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv3d>()) {
      nn::init::kaiming_normal_(conv->weight);
    } else if (auto* bn = m->as<BatchNorm3d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
  build_head(options_.in_channels, channels, options_.head);
}

torch::Tensor DenseNet3dImpl::embed(const torch::Tensor& x) {
  // MONAI's class_layers: ReLU, adaptive average pool to 1, flatten (then its `out` Linear,
  // which our head replaces).
  torch::Tensor y = torch::relu(features_->forward(x));
  return y.mean({2, 3, 4});
}

}  // namespace tomograd::models
