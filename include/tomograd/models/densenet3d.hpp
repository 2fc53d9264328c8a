#pragma once
/// @file 3D DenseNet for volumes [N,C,D,H,W] (Huang et al. 2017), as MONAI's `DenseNet` with
/// spatial_dims=3 (monai/networks/nets/densenet.py), the most used 3D classifier of MONAI.
///
/// Submodule names are MONAI's (`features.conv0`, `features.denseblock1.denselayer1.layers.conv1`,
/// `features.transition1.conv`, `features.norm5`), so the feature part of a MONAI state dict
/// loads by name; MONAI's own classifier `class_layers.out.*` is reported as unexpected (our head
/// is `fc`). Variants are data: DenseNet-121 is init 64, growth 32, blocks 6-12-24-16, bn_size 4.
#include <torch/torch.h>

#include <vector>

#include "tomograd/models/head.hpp"
#include "tomograd/models/model.hpp"

namespace tomograd {
class ConfigReader;
}

namespace tomograd::models {

/// The architecture of a DenseNet (the `model.densenet3d` section). In a ModelSpec, 0 or an
/// empty list means "the registry variant's value" (densenet121_3d: 64, 32, [6, 12, 24, 16], 4).
struct DenseNet3dLayout {
  int64_t init_features = 0;          ///< channels of conv0 (>= 1; 0 = variant's)
  int64_t growth_rate = 0;            ///< channels each dense layer adds, k (>= 1; 0 = variant's)
  std::vector<int64_t> block_config;  ///< dense layers per block (each >= 1; empty = variant's)
  int64_t bn_size = 0;                ///< bottleneck width = bn_size * growth_rate (0 = variant's)
  double dropout = 0.0;               ///< dropout after each dense layer, [0, 1)
};

/// Reads `model.densenet3d` (keys as in DenseNet3dLayout) and calls finish().
void decode_densenet3d_layout(ConfigReader& reader, DenseNet3dLayout& out);

/// Options of a 3D DenseNet.
struct DenseNet3dOptions {
  DenseNet3dLayout layout{64, 32, {6, 12, 24, 16}, 4, 0.0};
  int64_t in_channels = 1;
  HeadOptions head;

  static DenseNet3dOptions densenet121() { return variant(64, 32, {6, 12, 24, 16}); }
  static DenseNet3dOptions densenet169() { return variant(64, 32, {6, 12, 32, 32}); }
  static DenseNet3dOptions densenet201() { return variant(64, 32, {6, 12, 48, 32}); }
  /// bn_size 4, no dropout, with the given stem width, growth rate and block sizes.
  static DenseNet3dOptions variant(int64_t init_features, int64_t growth_rate, std::vector<int64_t> blocks) {
    DenseNet3dOptions o;
    o.layout = {init_features, growth_rate, std::move(blocks), 4, 0.0};
    return o;
  }
  /// These options with the non-zero/non-empty fields of @p overrides applied (dropout always).
  DenseNet3dOptions with(const DenseNet3dLayout& overrides) const;
};

/// 3D DenseNet backbone + head. The embedding is ReLU(norm5(features)) averaged over space:
/// init_features halved at each transition plus growth_rate per dense layer (1024 for
/// DenseNet-121). Input [N,in_channels,D,H,W]; the volume is reduced by 32 (a transition leaves
/// an axis that is already down to 1 sample as it is, so 16 slices work; MONAI would fail there
/// and is matched exactly everywhere else).
class DenseNet3dImpl : public Model {
 public:
  /// Throws ConfigError for invalid options.
  explicit DenseNet3dImpl(const DenseNet3dOptions& options = DenseNet3dOptions::densenet121());

  int spatial_dims() const override { return 3; }
  std::string input_conv() const override { return "features.conv0"; }
  const DenseNet3dOptions& options() const { return options_; }

 protected:
  torch::Tensor embed(const torch::Tensor& x) override;

 private:
  DenseNet3dOptions options_;
  torch::nn::Sequential features_{nullptr};
};
TORCH_MODULE(DenseNet3d);

}  // namespace tomograd::models
