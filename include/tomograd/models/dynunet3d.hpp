#pragma once
/// @file The encoder of MONAI's DynUNet (the nnU-Net network; monai/networks/nets/dynunet.py) as
/// a 3D classification backbone: `input_block`, `downsamples.*`, `bottleneck`, each a
/// UnetBasicBlock (conv, norm, LeakyReLU 0.01, twice) or, with res_block, a UnetResBlock (plus a
/// 1×1×1 conv3/norm3 shortcut when the shape changes); kernel sizes and strides per level are
/// data, so anisotropic volumes (few thick slices) get (1,2,2) strides where they need them.
///
/// Names are MONAI's (`input_block.conv1.conv.weight`, `input_block.norm1.weight`,
/// `downsamples.0.conv3.conv.weight`, `bottleneck.norm2.bias`), so the encoder part of a MONAI
/// DynUNet state dict loads by name; its decoder (`upsamples.*`, `output_block.*`,
/// `deep_supervision_heads.*`, `skip_layers.*`) is reported as unexpected.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "tomograd/models/head.hpp"
#include "tomograd/models/model.hpp"

namespace tomograd {
class ConfigReader;
}

namespace tomograd::models {

/// The architecture (the `model.dynunet3d` section). Level 0 is the input block, the last level
/// the bottleneck, the ones between are the downsamples (at least 3 levels, as in MONAI).
struct DynUNet3dLayout {
  /// Convolution kernel per level, (depth, height, width) each.
  std::vector<std::vector<int64_t>> kernel_size{{3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {3, 3, 3}};
  /// Stride of each level's first convolution. The default suits volumes with few slices such
  /// as the lumbar 16 x 64 x 64 box (-> 4 x 4 x 4 at the bottleneck): instance norm over a
  /// 1 x 1 x 1 bottleneck would erase every feature.
  std::vector<std::vector<int64_t>> strides{{1, 1, 1}, {1, 2, 2}, {2, 2, 2}, {2, 2, 2}, {1, 2, 2}};
  /// Output channels per level; empty = MONAI's rule min(2^(5+i), 320): 32, 64, 128, 256, 320.
  std::vector<int64_t> filters;
  std::string norm = "instance";  ///< instance (affine, MONAI's default) | batch
  bool res_block = false;         ///< UnetResBlock instead of UnetBasicBlock
  double dropout = 0.0;           ///< dropout after every convolution (MONAI's `dropout`)

  /// The filters actually used (the rule above when `filters` is empty).
  std::vector<int64_t> level_filters() const;
};

/// Reads `model.dynunet3d` (keys as in DynUNet3dLayout) and calls finish().
void decode_dynunet3d_layout(ConfigReader& reader, DynUNet3dLayout& out);

/// Options of a DynUNet encoder.
struct DynUNet3dOptions {
  DynUNet3dLayout layout;
  int64_t in_channels = 1;
  HeadOptions head;
};

/// DynUNet encoder + head; embedding = the bottleneck's filters (320 by default). Input
/// [N,in_channels,D,H,W]; every axis is divided by the product of its strides (rounding up).
class DynUNet3dImpl : public Model {
 public:
  /// Throws ConfigError for invalid options.
  explicit DynUNet3dImpl(const DynUNet3dOptions& options = {});

  int spatial_dims() const override { return 3; }
  std::string input_conv() const override { return "input_block.conv1.conv"; }
  const DynUNet3dOptions& options() const { return options_; }

 protected:
  torch::Tensor embed(const torch::Tensor& x) override;

 private:
  DynUNet3dOptions options_;
  torch::nn::AnyModule input_block_;
  torch::nn::Sequential downsamples_{nullptr};
  torch::nn::AnyModule bottleneck_;
};
TORCH_MODULE(DynUNet3d);

}  // namespace tomograd::models
