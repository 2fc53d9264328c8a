// MONAI's ViT for 3D volumes (Project-MONAI/MONAI: monai/networks/nets/vit.py at 0031f2da and
// monai/networks/blocks/patchembedding.py PatchEmbeddingBlock at 093f0b04, proj_type "conv",
// pos_embed_type "learnable"), written anew with MONAI's module names.
#include "tomograd/models/vit3d.hpp"

#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::models {

namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

void validate(const ViT3dOptions& o) {
  const auto& l = o.layout;
  auto fail = [](const std::string& key, const std::string& what) { throw ConfigError("vit3d." + key + ": " + what); };
  if (l.img_size.size() != 3) fail("img_size", "expected [depth, height, width]");
  if (l.patch_size.size() != 3) fail("patch_size", "expected [depth, height, width]");
  for (int a = 0; a < 3; ++a) {
    if (l.patch_size[a] < 1) fail("patch_size", "expected sizes >= 1");
    if (l.img_size[a] < l.patch_size[a]) {
      fail("img_size", "every axis must be at least its patch size (" + std::to_string(l.patch_size[a]) + "), got " +
                           std::to_string(l.img_size[a]));
    }
  }
  if (l.hidden_size < 1) fail("hidden_size", "expected >= 1");
  if (l.mlp_dim < 1) fail("mlp_dim", "expected >= 1");
  if (l.num_layers < 1) fail("num_layers", "expected >= 1");
  if (l.num_heads < 1 || l.hidden_size % l.num_heads != 0) {
    fail("num_heads", "must divide hidden_size (" + std::to_string(l.hidden_size) + "), got " +
                          std::to_string(l.num_heads));
  }
  if (!(l.dropout >= 0.0 && l.dropout < 1.0)) fail("dropout", "expected in [0, 1), got " + std::to_string(l.dropout));
  if (l.pool != "mean" && l.pool != "cls") fail("pool", "expected mean or cls, got '" + l.pool + "'");
  if (o.in_channels < 1) fail("in_channels", "expected >= 1, got " + std::to_string(o.in_channels));
}

}  // namespace

std::vector<int64_t> ViT3dLayout::grid() const {
  std::vector<int64_t> g;
  for (size_t a = 0; a < img_size.size() && a < patch_size.size(); ++a) g.push_back(img_size[a] / patch_size[a]);
  return g;
}

void decode_vit3d_layout(ConfigReader& r, ViT3dLayout& out) {
  r.get("img_size", out.img_size)
      .get("patch_size", out.patch_size)
      .get("hidden_size", out.hidden_size)
      .get("mlp_dim", out.mlp_dim)
      .get("num_layers", out.num_layers)
      .get("num_heads", out.num_heads)
      .get("dropout", out.dropout)
      .get("qkv_bias", out.qkv_bias)
      .get("pool", out.pool);
  r.finish();
}

ViT3dImpl::ViT3dImpl(const ViT3dOptions& options) : options_(options) {
  validate(options_);
  const auto& l = options_.layout;
  const auto g = l.grid();
  const int64_t n_patches = g[0] * g[1] * g[2];

  auto pe = std::make_shared<nn::Module>();
  patch_embeddings_ = pe->register_module(
      "patch_embeddings", nn::Conv3d(nn::Conv3dOptions(options_.in_channels, l.hidden_size,
                                                       torch::IntArrayRef(l.patch_size))
                                         .stride(torch::IntArrayRef(l.patch_size))));
  position_embeddings_ = pe->register_parameter("position_embeddings", torch::zeros({1, n_patches, l.hidden_size}));
  embed_dropout_ = pe->register_module("dropout", Dropout(l.dropout));
  register_module("patch_embedding", pe);

  blocks_ = nn::ModuleList();
  for (int64_t i = 0; i < l.num_layers; ++i) {
    blocks_->push_back(TransformerBlock(l.hidden_size, l.mlp_dim, l.num_heads, l.dropout, l.qkv_bias));
  }
  register_module("blocks", blocks_);
  norm_ = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({l.hidden_size})));
  if (l.pool == "cls") cls_token_ = register_parameter("cls_token", torch::zeros({1, 1, l.hidden_size}));

  // MONAI's PatchEmbeddingBlock._init_weights (applied to the patch embedding only): learnable
  // position embeddings ~ trunc_normal(0.02); Linear weights trunc_normal(0.02), biases 0;
  // LayerNorm 1/0. The transformer blocks keep PyTorch's default initialization, as in MONAI.
  trunc_normal(position_embeddings_, 0.02);
  build_head(options_.in_channels, l.hidden_size, options_.head);
}

torch::Tensor ViT3dImpl::embed(const torch::Tensor& x) {
  const auto& l = options_.layout;
  for (int a = 0; a < 3; ++a) {
    if (x.size(2 + a) < l.patch_size[a]) {
      throw ValueError("vit3d: input " + shape_string(x.sizes()) + " is smaller than one patch " +
                       shape_string(l.patch_size));
    }
  }
  torch::Tensor y = patch_embeddings_(x);  // [B,C,gd,gh,gw]
  const std::vector<int64_t> grid{y.size(2), y.size(3), y.size(4)};
  y = y.flatten(2).transpose(1, 2);  // [B,N,C]
  torch::Tensor pos = position_embeddings_;
  if (grid != l.grid()) {
    const auto g = l.grid();
    pos = pos.transpose(1, 2).reshape({1, l.hidden_size, g[0], g[1], g[2]});
    pos = F::interpolate(pos, F::InterpolateFuncOptions()
                                  .size(std::vector<int64_t>(grid))
                                  .mode(torch::kTrilinear)
                                  .align_corners(false));
    pos = pos.flatten(2).transpose(1, 2);
  }
  y = embed_dropout_(y + pos);
  if (cls_token_.defined()) y = torch::cat({cls_token_.expand({y.size(0), -1, -1}), y}, 1);
  for (const auto& block : *blocks_) y = block->as<TransformerBlock>()->forward(y);
  y = norm_(y);
  if (cls_token_.defined()) return y.select(1, 0);
  return y.mean(1);
}

}  // namespace tomograd::models
