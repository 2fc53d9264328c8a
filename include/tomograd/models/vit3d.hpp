#pragma once
/// @file MONAI's ViT (Dosovitskiy et al. 2021; monai/networks/nets/vit.py) with spatial_dims=3 as
/// a classification backbone: `patch_embedding` (a strided Conv3d `patch_embeddings` + learnable
/// `position_embeddings`), `blocks.*` of TransformerBlock (SABlock attention, MLPBlock), `norm`;
/// the embedding is the mean of the normalized tokens, or MONAI's `cls_token` when pool is cls.
///
/// Names are MONAI's (`patch_embedding.patch_embeddings.weight`,
/// `patch_embedding.position_embeddings`, `blocks.0.attn.qkv.weight`, `blocks.0.mlp.linear1.weight`,
/// `norm.weight`, `cls_token`), so a MONAI ViT (or UNETR's `vit.*` after stripping the prefix)
/// loads by name; MONAI's `classification_head.*` is reported as unexpected.
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

/// The architecture (the `model.vit3d` section). Defaults are MONAI's ViT-B/16 sizes on the
/// lumbar 3D volume (16 x 64 x 64 voxels).
struct ViT3dLayout {
  std::vector<int64_t> img_size{16, 64, 64};    ///< (D,H,W) the position embeddings are sized for
  std::vector<int64_t> patch_size{16, 16, 16};  ///< (D,H,W) of one patch (token)
  int64_t hidden_size = 768;
  int64_t mlp_dim = 3072;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  double dropout = 0.0;   ///< MONAI's dropout_rate (embeddings, attention weights, MLP, outputs)
  bool qkv_bias = false;  ///< bias of the qkv projection (MONAI's default false)
  std::string pool = "mean";  ///< mean (of all tokens) | cls (MONAI's classification token)

  /// Patches along each axis for the configured img_size.
  std::vector<int64_t> grid() const;
};

/// Reads `model.vit3d` (keys as in ViT3dLayout) and calls finish().
void decode_vit3d_layout(ConfigReader& reader, ViT3dLayout& out);

/// Options of a 3D ViT.
struct ViT3dOptions {
  ViT3dLayout layout;
  int64_t in_channels = 1;
  HeadOptions head;
};

/// 3D ViT backbone + head; embedding hidden_size. Input [N,in_channels,D,H,W] with each axis at
/// least its patch size; an input whose patch grid differs from img_size's gets the position
/// embeddings resampled trilinearly to its grid (exact MONAI behaviour at img_size).
class ViT3dImpl : public Model {
 public:
  /// Throws ConfigError for invalid options.
  explicit ViT3dImpl(const ViT3dOptions& options = {});

  int spatial_dims() const override { return 3; }
  std::string input_conv() const override { return "patch_embedding.patch_embeddings"; }
  const ViT3dOptions& options() const { return options_; }

 protected:
  torch::Tensor embed(const torch::Tensor& x) override;

 private:
  ViT3dOptions options_;
  torch::nn::Conv3d patch_embeddings_{nullptr};
  torch::Tensor position_embeddings_;
  Dropout embed_dropout_{nullptr};
  torch::nn::ModuleList blocks_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::Tensor cls_token_;
};
TORCH_MODULE(ViT3d);

}  // namespace tomograd::models
