#pragma once
/// @file The Swin Transformer encoder of MONAI's SwinUNETR (Hatamizadeh et al. 2022; Liu et al.
/// 2021; monai/networks/nets/swin_unetr.py `swinViT`) as a 3D classification backbone:
/// `patch_embed` (strided Conv3d), four stages `layers1..4`, each of `depth` Swin blocks that
/// alternate regular and shifted windows (window attention with a learned relative position bias;
/// in shifted windows an attention mask keeps tokens that were not neighbours before the cyclic
/// shift apart) and a patch merging (2×2×2 neighbours -> LayerNorm -> Linear 8C -> 2C). The
/// embedding is the last stage's output, layer-normalized (MONAI's `normalize`), averaged over space.
///
/// Names are MONAI's under `swinViT.` (`swinViT.patch_embed.proj.weight`,
/// `swinViT.layers1.0.blocks.1.attn.relative_position_bias_table`,
/// `swinViT.layers1.0.blocks.0.mlp.linear1.weight`, `swinViT.layers4.0.downsample.reduction.weight`),
/// so the encoder of a MONAI SwinUNETR state dict loads by name; the decoder (`encoder1..10`,
/// `decoder1..5`, `out`) is reported as unexpected.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "tomograd/models/dropout.hpp"
#include "tomograd/models/blocks_transformer.hpp"
#include "tomograd/models/head.hpp"
#include "tomograd/models/model.hpp"

namespace tomograd {
class ConfigReader;
}

namespace tomograd::models {

/// The architecture (the `model.swinunetr3d` section). Defaults are MONAI's SwinUNETR.
struct SwinUNETR3dLayout {
  int64_t feature_size = 24;                  ///< channels after the patch embedding (C); stage i has C*2^i
  std::vector<int64_t> depths{2, 2, 2, 2};     ///< Swin blocks per stage (4 stages)
  std::vector<int64_t> num_heads{3, 6, 12, 24};  ///< attention heads per stage (each divides C*2^i)
  std::vector<int64_t> window_size{7, 7, 7};   ///< (D,H,W) window; shrinks to an axis that is smaller
  std::vector<int64_t> patch_size{2, 2, 2};    ///< (D,H,W) of the patch embedding
  double drop_rate = 0.0;          ///< dropout after the embedding, in the MLPs and projections
  double attn_drop_rate = 0.0;     ///< dropout of the attention weights
  double dropout_path_rate = 0.0;  ///< stochastic depth, rising linearly to this over all blocks
  bool normalize = true;           ///< layer-normalize (no affine) the last stage before pooling
  /// Patch merging order: "merging" (MONAI's default, the v0.9.0 order that pretrained SwinUNETR
  /// weights were trained with) or "mergingv2" (all eight 2×2×2 neighbours in order).
  std::string downsample = "merging";
};

/// Reads `model.swinunetr3d` (keys as in SwinUNETR3dLayout) and calls finish().
void decode_swinunetr3d_layout(ConfigReader& reader, SwinUNETR3dLayout& out);

/// Options of a Swin encoder.
struct SwinUNETR3dOptions {
  SwinUNETR3dLayout layout;
  int64_t in_channels = 1;
  HeadOptions head;
};

/// MONAI's WindowAttention for 3D windows: multi-head self-attention inside each window of
/// n = wd*wh*ww tokens plus `relative_position_bias_table[relative_position_index]` (a learned
/// bias per head and relative offset), plus an optional additive mask per window.
class WindowAttention3dImpl : public torch::nn::Module {
 public:
  WindowAttention3dImpl(int64_t dim, int64_t num_heads, std::vector<int64_t> window_size, bool qkv_bias = true,
                        double attn_drop = 0.0, double proj_drop = 0.0);
  /// @param x [B*nW, n, C] tokens of each window
  /// @param mask [nW, n, n] (0 or -100) or undefined
  /// @return [B*nW, n, C]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask = {});

 private:
  int64_t num_heads_;
  double scale_;
  torch::Tensor relative_position_bias_table_, relative_position_index_;
  torch::nn::Linear qkv_{nullptr}, proj_{nullptr};
  Dropout attn_drop_{nullptr}, proj_drop_{nullptr};
};
TORCH_MODULE(WindowAttention3d);

/// MONAI's SwinTransformerBlock (3D): x + attn(windows of roll(norm1(x), -shift)), then
/// + mlp(norm2(x)); the volume is padded at the far end to whole windows and cropped back.
class SwinBlock3dImpl : public torch::nn::Module {
 public:
  SwinBlock3dImpl(int64_t dim, int64_t num_heads, std::vector<int64_t> window_size, std::vector<int64_t> shift_size,
                  double mlp_ratio = 4.0, bool qkv_bias = true, double drop = 0.0, double attn_drop = 0.0,
                  double drop_path = 0.0);
  /// @param x [B,D,H,W,C]
  /// @param mask the stage's mask (swin_attention_mask on the padded size), used when shifted
  /// @return [B,D,H,W,C]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask);

 private:
  std::vector<int64_t> window_size_, shift_size_;
  double drop_path_;
  torch::nn::LayerNorm norm1_{nullptr};
  WindowAttention3d attn_{nullptr};
  torch::nn::LayerNorm norm2_{nullptr};
  MlpBlock mlp_{nullptr};
};
TORCH_MODULE(SwinBlock3d);

/// The window and shift used on a volume of size @p dims (D,H,W): an axis not larger than the
/// window gets a window of its own size and no shift (MONAI's get_window_size).
std::pair<std::vector<int64_t>, std::vector<int64_t>> swin_window_and_shift(const std::vector<int64_t>& dims,
                                                                           const std::vector<int64_t>& window,
                                                                           const std::vector<int64_t>& shift);

/// The shifted-window attention mask for a padded volume @p dims (D,H,W): [nW, n, n], 0 where two
/// tokens of a window came from the same region before the cyclic shift, -100 elsewhere
/// (MONAI's compute_mask).
torch::Tensor swin_attention_mask(const std::vector<int64_t>& dims, const std::vector<int64_t>& window,
                                  const std::vector<int64_t>& shift);

/// Swin encoder + head; embedding feature_size * 16 (384 by default). Input [N,in_channels,D,H,W]
/// of any size (padded to whole patches, windows and merges as MONAI does).
class SwinUNETR3dImpl : public Model {
 public:
  /// Throws ConfigError for invalid options.
  explicit SwinUNETR3dImpl(const SwinUNETR3dOptions& options = {});

  int spatial_dims() const override { return 3; }
  std::string input_conv() const override { return "swinViT.patch_embed.proj"; }
  const SwinUNETR3dOptions& options() const { return options_; }

 protected:
  torch::Tensor embed(const torch::Tensor& x) override;

 private:
  SwinUNETR3dOptions options_;
  torch::nn::Conv3d proj_{nullptr};
  Dropout pos_drop_{nullptr};
  std::vector<std::shared_ptr<torch::nn::Module>> stages_;
};
TORCH_MODULE(SwinUNETR3d);

}  // namespace tomograd::models
