#pragma once
/// @file 2D ResNet (He et al. 2016, torchvision's "v1.5": stride on the 3×3 convolution of the
/// bottleneck) for slices [N,C,H,W] with any number of input channels.
///
/// Submodule names are torchvision's (`conv1`, `bn1`, `layer1.0.conv1`,
/// `layer2.0.downsample.0`, `fc`), so torchvision's published `.pth` files load by name (see
/// weight_loading.hpp). Variants are data: ResNetOptions::resnet18() etc.
#include <torch/torch.h>

#include <utility>
#include <vector>

#include "tomograd/models/batch_norm.hpp"
#include "tomograd/models/head.hpp"
#include "tomograd/models/model.hpp"

namespace tomograd::models {

/// The residual block type.
enum class ResNetBlock {
  kBasic,      ///< two 3×3 convolutions (expansion 1): resnet18/34
  kBottleneck  ///< 1×1, 3×3, 1×1 convolutions (expansion 4): resnet50/101/152
};

/// Options of a 2D ResNet.
struct ResNetOptions {
  ResNetBlock block = ResNetBlock::kBasic;
  std::vector<int64_t> layers{2, 2, 2, 2};  ///< blocks in layer1..layer4
  int64_t in_channels = 3;                  ///< 1 for CT slices, 3 for 2.5D stacks, k in general
  HeadOptions head;                         ///< default: one regression output
  /// Zero the last BatchNorm of each block so every block starts as an identity (torchvision's
  /// zero_init_residual; off by default as there).
  bool zero_init_residual = false;

  static ResNetOptions resnet18() { return variant(ResNetBlock::kBasic, {2, 2, 2, 2}); }
  static ResNetOptions resnet34() { return variant(ResNetBlock::kBasic, {3, 4, 6, 3}); }
  static ResNetOptions resnet50() { return variant(ResNetBlock::kBottleneck, {3, 4, 6, 3}); }
  static ResNetOptions resnet101() { return variant(ResNetBlock::kBottleneck, {3, 4, 23, 3}); }
  /// Defaults with the given block type and layer counts.
  static ResNetOptions variant(ResNetBlock block, std::vector<int64_t> layers) {
    ResNetOptions o;
    o.block = block;
    o.layers = std::move(layers);
    return o;
  }
};

/// 2D ResNet backbone + head. Input [N,in_channels,H,W] with H,W >= 32 recommended (the
/// backbone downsamples by 32); embedding 512 (basic) or 2048 (bottleneck).
class ResNetImpl : public Model {
 public:
  /// Throws ConfigError for invalid options (empty or non-positive layers, bad head).
  explicit ResNetImpl(const ResNetOptions& options = ResNetOptions::resnet18());

  int spatial_dims() const override { return 2; }
  std::string input_conv() const override { return "conv1"; }
  const ResNetOptions& options() const { return options_; }
  /// layer4's output [N, 512 or 2048, H/32, W/32].
  torch::Tensor feature_maps(const torch::Tensor& x) override;

 protected:
  torch::Tensor embed(const torch::Tensor& x) override;

 private:
  torch::nn::Sequential make_layer(int64_t planes, int64_t blocks, int64_t stride);

  ResNetOptions options_;
  int64_t inplanes_ = 64;
  torch::nn::Conv2d conv1_{nullptr};
  BatchNorm2d bn1_{nullptr};
  torch::nn::MaxPool2d maxpool_{nullptr};
  torch::nn::Sequential layer1_{nullptr}, layer2_{nullptr}, layer3_{nullptr}, layer4_{nullptr};
  torch::nn::AdaptiveAvgPool2d avgpool_{nullptr};
};
TORCH_MODULE(ResNet);

}  // namespace tomograd::models
