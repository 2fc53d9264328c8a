// 3D ResNet as in MONAI (monai/networks/nets/resnet.py, shortcut_type "B") and MedicalNet
// (Chen et al. 2019, "Med3D"), whose names it keeps so their checkpoints load.
#include "tomograd/models/resnet3d.hpp"

#include "basic_block.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::models {

namespace {

namespace nn = torch::nn;

// MONAI's ResNetBlock (MedicalNet's BasicBlock).
using BasicBlock3dImpl = detail::BasicBlockImpl<3, BatchNorm3d>;
TORCH_MODULE(BasicBlock3d);

void validate(const ResNet3dOptions& o) {
  if (o.layers.size() != 4) {
    throw ConfigError("resnet3d: expected 4 layer counts (layer1..layer4), got " + std::to_string(o.layers.size()));
  }
  for (int64_t n : o.layers) {
    if (n < 1) throw ConfigError("resnet3d: every layer needs >= 1 block, got " + std::to_string(n));
  }
  if (o.in_channels < 1) throw ConfigError("resnet3d: in_channels must be >= 1, got " + std::to_string(o.in_channels));
  if (o.stem.conv1_t_size < 1 || o.stem.conv1_t_size % 2 == 0) {
    throw ConfigError("resnet3d.conv1_t_size: expected an odd size >= 1, got " +
                      std::to_string(o.stem.conv1_t_size));
  }
  if (o.stem.conv1_t_stride < 1) {
    throw ConfigError("resnet3d.conv1_t_stride: expected >= 1, got " + std::to_string(o.stem.conv1_t_stride));
  }
}

}  // namespace

ResNet3dImpl::ResNet3dImpl(const ResNet3dOptions& options) : options_(options) {
  validate(options_);
  const int64_t t = options_.stem.conv1_t_size;
  conv1_ = register_module("conv1", nn::Conv3d(nn::Conv3dOptions(options_.in_channels, 64, {t, 7, 7})
                                                   .stride({options_.stem.conv1_t_stride, 2, 2})
                                                   .padding({t / 2, 3, 3})
                                                   .bias(false)));
  bn1_ = register_module("bn1", BatchNorm3d(64));
  if (!options_.stem.no_max_pool) {
    maxpool_ = register_module("maxpool", nn::MaxPool3d(nn::MaxPool3dOptions(3).stride(2).padding(1)));
  }
  layer1_ = register_module("layer1", make_layer(64, options_.layers[0], 1));
  layer2_ = register_module("layer2", make_layer(128, options_.layers[1], 2));
  layer3_ = register_module("layer3", make_layer(256, options_.layers[2], 2));
  layer4_ = register_module("layer4", make_layer(512, options_.layers[3], 2));
  avgpool_ = register_module("avgpool", nn::AdaptiveAvgPool3d(nn::AdaptiveAvgPool3dOptions({1, 1, 1})));

  // MONAI's initialization: He normal (fan_out) for convolutions, BatchNorm as identity.
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv3d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<BatchNorm3d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
  build_head(options_.in_channels, 512, options_.head);
}

nn::Sequential ResNet3dImpl::make_layer(int64_t planes, int64_t blocks, int64_t stride) {
  nn::Sequential layer;
  for (int64_t i = 0; i < blocks; ++i) {
    nn::Sequential downsample{nullptr};
    if (i == 0 && (stride != 1 || inplanes_ != planes)) {
      downsample = nn::Sequential(nn::Conv3d(nn::Conv3dOptions(inplanes_, planes, 1).stride(stride).bias(false)),
                                  BatchNorm3d(planes));
    }
    layer->push_back(BasicBlock3d(inplanes_, planes, i == 0 ? stride : 1, downsample));
    inplanes_ = planes;
  }
  return layer;
}

torch::Tensor ResNet3dImpl::embed(const torch::Tensor& x) {
  torch::Tensor y = bn1_(conv1_(x)).relu_();
  if (maxpool_) y = maxpool_(y);
  y = layer4_->forward(layer3_->forward(layer2_->forward(layer1_->forward(y))));
  return torch::flatten(avgpool_(y), 1);
}

}  // namespace tomograd::models
