// 2D ResNet with torchvision's layer names and initialization
// (torchvision/models/resnet.py, v0.14): variants differ only in ResNetOptions.
#include "tomograd/models/resnet.hpp"

#include "basic_block.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::models {

namespace {

namespace nn = torch::nn;

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

nn::Conv2d conv1x1(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false));
}

// torchvision's BasicBlock.
using BasicBlockImpl = detail::BasicBlockImpl<2, BatchNorm2d>;
TORCH_MODULE(BasicBlock);

// torchvision's Bottleneck ("ResNet v1.5"): the stride sits on the 3×3 convolution conv2, not on
// conv1 as in the original paper; this is what torchvision's weights were trained with.
class BottleneckImpl : public nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;

  BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride, nn::Sequential downsample)
      : conv1_(register_module("conv1", conv1x1(inplanes, planes, 1))),
        bn1_(register_module("bn1", BatchNorm2d(planes))),
        conv2_(register_module("conv2", conv3x3(planes, planes, stride))),
        bn2_(register_module("bn2", BatchNorm2d(planes))),
        conv3_(register_module("conv3", conv1x1(planes, planes * kExpansion, 1))),
        bn3_(register_module("bn3", BatchNorm2d(planes * kExpansion))),
        downsample_(std::move(downsample)) {
    if (downsample_) register_module("downsample", downsample_);
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = bn1_(conv1_(x)).relu_();
    out = bn2_(conv2_(out)).relu_();
    out = bn3_(conv3_(out));
    out += downsample_ ? downsample_->forward(x) : x;
    return out.relu_();
  }

  BatchNorm2d last_bn() const { return bn3_; }

 private:
  nn::Conv2d conv1_;
  BatchNorm2d bn1_;
  nn::Conv2d conv2_;
  BatchNorm2d bn2_;
  nn::Conv2d conv3_;
  BatchNorm2d bn3_;
  nn::Sequential downsample_;
};
TORCH_MODULE(Bottleneck);

int64_t expansion(ResNetBlock block) {
  return block == ResNetBlock::kBasic ? BasicBlockImpl::kExpansion : BottleneckImpl::kExpansion;
}

void validate(const ResNetOptions& o) {
  if (o.layers.size() != 4) {
    throw ConfigError("resnet: expected 4 layer counts (layer1..layer4), got " + std::to_string(o.layers.size()));
  }
  for (int64_t n : o.layers) {
    if (n < 1) throw ConfigError("resnet: every layer needs >= 1 block, got " + std::to_string(n));
  }
  if (o.in_channels < 1) throw ConfigError("resnet: in_channels must be >= 1, got " + std::to_string(o.in_channels));
}

}  // namespace

ResNetImpl::ResNetImpl(const ResNetOptions& options) : options_(options) {
  validate(options_);
  conv1_ = register_module(
      "conv1", nn::Conv2d(nn::Conv2dOptions(options_.in_channels, 64, 7).stride(2).padding(3).bias(false)));
  bn1_ = register_module("bn1", BatchNorm2d(64));
  maxpool_ = register_module("maxpool", nn::MaxPool2d(nn::MaxPool2dOptions(3).stride(2).padding(1)));
  layer1_ = register_module("layer1", make_layer(64, options_.layers[0], 1));
  layer2_ = register_module("layer2", make_layer(128, options_.layers[1], 2));
  layer3_ = register_module("layer3", make_layer(256, options_.layers[2], 2));
  layer4_ = register_module("layer4", make_layer(512, options_.layers[3], 2));
  avgpool_ = register_module("avgpool", nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({1, 1})));

  // torchvision's initialization: He normal (fan_out) for convolutions, BatchNorm as identity.
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = m->as<BatchNorm2d>()) {
      nn::init::ones_(bn->weight);
      nn::init::zeros_(bn->bias);
    }
  }
  if (options_.zero_init_residual) {
    torch::NoGradGuard no_grad;
    for (auto* layer : {&layer1_, &layer2_, &layer3_, &layer4_}) {
      for (auto& block : **layer) {
        if (auto* b = block.ptr()->as<BasicBlockImpl>()) nn::init::zeros_(b->last_bn()->weight);
        if (auto* b = block.ptr()->as<BottleneckImpl>()) nn::init::zeros_(b->last_bn()->weight);
      }
    }
  }
  build_head(options_.in_channels, 512 * expansion(options_.block), options_.head);
}

nn::Sequential ResNetImpl::make_layer(int64_t planes, int64_t blocks, int64_t stride) {
  const int64_t exp = expansion(options_.block);
  nn::Sequential layer;
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t s = i == 0 ? stride : 1;
    nn::Sequential downsample{nullptr};
    if (i == 0 && (stride != 1 || inplanes_ != planes * exp)) {
      downsample = nn::Sequential(conv1x1(inplanes_, planes * exp, stride), BatchNorm2d(planes * exp));
    }
    if (options_.block == ResNetBlock::kBasic) {
      layer->push_back(BasicBlock(inplanes_, planes, s, downsample));
    } else {
      layer->push_back(Bottleneck(inplanes_, planes, s, downsample));
    }
    inplanes_ = planes * exp;
  }
  return layer;
}

torch::Tensor ResNetImpl::feature_maps(const torch::Tensor& x) {
  torch::Tensor y = maxpool_(bn1_(conv1_(x)).relu_());
  return layer4_->forward(layer3_->forward(layer2_->forward(layer1_->forward(y))));
}

torch::Tensor ResNetImpl::embed(const torch::Tensor& x) { return torch::flatten(avgpool_(feature_maps(x)), 1); }

}  // namespace tomograd::models
