#pragma once
/// @file 3D ResNet for volumes [N,C,D,H,W] (Hara et al. 2018, as in MONAI's `ResNet` and
/// Tencent's MedicalNet): BasicBlock3D, shortcut type B (1×1×1 convolution + BatchNorm when the
/// shape changes).
///
/// Submodule names are MONAI's and MedicalNet's (`conv1`, `bn1`, `layer1.0.conv1`,
/// `layer2.0.downsample.0`, `fc`), so their checkpoints load by name (MedicalNet's
/// `module.` prefix is stripped; its segmentation decoder `conv_seg.*` is reported as unexpected).
#include <torch/torch.h>

#include <utility>
#include <vector>

#include "tomograd/models/batch_norm.hpp"
#include "tomograd/models/head.hpp"
#include "tomograd/models/model.hpp"

namespace tomograd::models {

/// The stem of a 3D ResNet. Defaults are MONAI's: a (7,7,7) convolution with stride (1,2,2) —
/// CT and MR volumes usually have fewer, thicker slices than rows and columns, so the slice axis
/// is not halved at the first layer — then a 3×3×3 max pool with stride 2.
/// MedicalNet's stem is conv1_t_stride = 2.
struct ResNet3dStem {
  int64_t conv1_t_size = 7;    ///< kernel size of conv1 along the slice axis (odd, >= 1)
  int64_t conv1_t_stride = 1;  ///< stride of conv1 along the slice axis (>= 1)
  bool no_max_pool = false;    ///< skip the max pool after conv1
};

/// Options of a 3D ResNet.
struct ResNet3dOptions {
  std::vector<int64_t> layers{1, 1, 1, 1};  ///< BasicBlock3D count in layer1..layer4
  int64_t in_channels = 1;
  ResNet3dStem stem;
  HeadOptions head;

  static ResNet3dOptions resnet3d10() { return variant({1, 1, 1, 1}); }
  static ResNet3dOptions resnet3d18() { return variant({2, 2, 2, 2}); }
  static ResNet3dOptions resnet3d34() { return variant({3, 4, 6, 3}); }
  /// Defaults with the given layer counts.
  static ResNet3dOptions variant(std::vector<int64_t> layers) {
    ResNet3dOptions o;
    o.layers = std::move(layers);
    return o;
  }
};

/// 3D ResNet backbone + head; embedding 512. Input [N,in_channels,D,H,W].
class ResNet3dImpl : public Model {
 public:
  /// Throws ConfigError for invalid options.
  explicit ResNet3dImpl(const ResNet3dOptions& options = ResNet3dOptions::resnet3d10());

  int spatial_dims() const override { return 3; }
  std::string input_conv() const override { return "conv1"; }
  const ResNet3dOptions& options() const { return options_; }

 protected:
  torch::Tensor embed(const torch::Tensor& x) override;

 private:
  torch::nn::Sequential make_layer(int64_t planes, int64_t blocks, int64_t stride);

  ResNet3dOptions options_;
  int64_t inplanes_ = 64;
  torch::nn::Conv3d conv1_{nullptr};
  BatchNorm3d bn1_{nullptr};
  torch::nn::MaxPool3d maxpool_{nullptr};
  torch::nn::Sequential layer1_{nullptr}, layer2_{nullptr}, layer3_{nullptr}, layer4_{nullptr};
  torch::nn::AdaptiveAvgPool3d avgpool_{nullptr};
};
TORCH_MODULE(ResNet3d);

}  // namespace tomograd::models
