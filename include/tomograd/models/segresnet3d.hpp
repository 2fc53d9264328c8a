#pragma once
/// @file The encoder of MONAI's SegResNet (Myronenko 2018, "3D MRI brain tumor segmentation using
/// autoencoder regularization"; monai/networks/nets/segresnet.py) as a 3D classification
/// backbone: `convInit`, then `down_layers` of pre-activation ResBlocks (GroupNorm, ReLU, 3×3×3
/// convolution, twice, plus the identity), each level after the first opening with a stride-2
/// convolution that doubles the channels; global average pooling of the last level.
///
/// Names are MONAI's (`convInit.conv.weight`, `down_layers.1.0.conv.weight`,
/// `down_layers.1.1.norm1.weight`, `down_layers.1.1.conv1.conv.weight`), so the encoder part of a
/// MONAI SegResNet state dict loads by name; its decoder (`up_layers.*`, `up_samples.*`,
/// `conv_final.*`) is reported as unexpected.
#include <torch/torch.h>

#include <vector>

#include "tomograd/models/dropout.hpp"
#include "tomograd/models/head.hpp"
#include "tomograd/models/model.hpp"

namespace tomograd {
class ConfigReader;
}

namespace tomograd::models {

/// The architecture (the `model.segresnet3d` section). Defaults are MONAI's.
struct SegResNet3dLayout {
  int64_t init_filters = 8;                   ///< channels of convInit (a multiple of norm_groups)
  std::vector<int64_t> blocks_down{1, 2, 2, 4};  ///< ResBlocks per level; level i has init_filters*2^i channels
  int64_t norm_groups = 8;                    ///< GroupNorm groups (MONAI: ("GROUP", {"num_groups": 8}))
  double dropout = 0.0;                       ///< dropout after convInit (MONAI dropout_prob; 0 = none)
};

/// Reads `model.segresnet3d` (keys as in SegResNet3dLayout) and calls finish().
void decode_segresnet3d_layout(ConfigReader& reader, SegResNet3dLayout& out);

/// Options of a SegResNet encoder.
struct SegResNet3dOptions {
  SegResNet3dLayout layout;
  int64_t in_channels = 1;
  HeadOptions head;
};

/// SegResNet encoder + head; embedding init_filters * 2^(levels-1) (64 by default). Input
/// [N,in_channels,D,H,W]; each level after the first halves every axis (rounding up).
class SegResNet3dImpl : public Model {
 public:
  /// Throws ConfigError for invalid options.
  explicit SegResNet3dImpl(const SegResNet3dOptions& options = {});

  int spatial_dims() const override { return 3; }
  std::string input_conv() const override { return "convInit.conv"; }
  const SegResNet3dOptions& options() const { return options_; }

 protected:
  torch::Tensor embed(const torch::Tensor& x) override;

 private:
  SegResNet3dOptions options_;
  torch::nn::AnyModule conv_init_;
  Dropout3d dropout_{nullptr};
  torch::nn::ModuleList down_layers_{nullptr};
};
TORCH_MODULE(SegResNet3d);

}  // namespace tomograd::models
