#pragma once
/// @file SimpleCNN: four convolution blocks and an MLP, the small baseline used for BMD
/// regression.
///
/// Block i: Conv2d(3×3, padding 1, with bias) → BatchNorm2d → ReLU → MaxPool2d(2). After the
/// last block the [widths.back(), H/16, W/16] map is flattened into `fc1` (Linear + ReLU, the
/// MLP's hidden layer, whose output is the features() embedding) and the head's `fc`.
///
/// The BMD baseline: in_channels 1, widths 32/64/128/256, input 256×256, hidden 512, one
/// regression output = 388,800 convolution/BatchNorm parameters + 65,536×512 + 512 (fc1) +
/// 512 + 1 (fc) = 33,944,257 parameters (SimpleCnnOptions::bmd_baseline()).
#include <torch/torch.h>

#include <array>
#include <vector>

#include "tomograd/models/head.hpp"
#include "tomograd/models/model.hpp"

namespace tomograd::models {

/// The architecture of a SimpleCNN apart from input channels and head.
struct SimpleCnnLayout {
  std::vector<int64_t> widths{32, 64, 128, 256};  ///< output channels of the conv blocks
  std::array<int64_t, 2> input_size{256, 256};    ///< input rows, cols; each divisible by 2^blocks
  int64_t hidden = 512;  ///< width of the MLP's hidden layer `fc1`; 0 = flatten straight into fc
};

/// Options of a SimpleCNN.
struct SimpleCnnOptions {
  int64_t in_channels = 1;
  SimpleCnnLayout layout;
  HeadOptions head;

  /// The 33,944,257-parameter BMD baseline (the defaults, spelled out).
  static SimpleCnnOptions bmd_baseline();
};

/// SimpleCNN backbone + head. Input [N,in_channels,rows,cols] with exactly the layout's
/// input_size (the flattened size is fixed by it).
class SimpleCnnImpl : public Model {
 public:
  /// Throws ConfigError for invalid options (no blocks, input size not divisible, ...).
  explicit SimpleCnnImpl(const SimpleCnnOptions& options = SimpleCnnOptions::bmd_baseline());

  int spatial_dims() const override { return 2; }
  std::string input_conv() const override { return "blocks.0.conv"; }
  const SimpleCnnOptions& options() const { return options_; }

 protected:
  torch::Tensor embed(const torch::Tensor& x) override;

 private:
  SimpleCnnOptions options_;
  torch::nn::Sequential blocks_{nullptr};
  torch::nn::Linear fc1_{nullptr};
};
TORCH_MODULE(SimpleCnn);

}  // namespace tomograd::models
