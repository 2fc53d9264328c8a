#pragma once
/// @file Transformer building blocks shared by vit3d and swinunetr3d, with MONAI's module names:
/// MLPBlock (`linear1`, `linear2`, GELU), SABlock (`qkv`, `out_proj`: multi-head self-attention)
/// and TransformerBlock (`norm1`, `attn`, `norm2`, `mlp`, pre-norm residuals).
/// Tokens are [B,N,C] float32 throughout.
#include <torch/torch.h>

#include "tomograd/models/dropout.hpp"

namespace tomograd::models {

/// MONAI's MLPBlock (monai/networks/blocks/mlp.py): linear1 (C -> mlp_dim), GELU (exact, erf),
/// dropout, linear2 (mlp_dim -> C), dropout.
class MlpBlockImpl : public torch::nn::Module {
 public:
  MlpBlockImpl(int64_t hidden_size, int64_t mlp_dim, double dropout = 0.0);
  /// @param x [B,N,C] @return [B,N,C]
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Linear linear1_{nullptr}, linear2_{nullptr};
  Dropout drop_{nullptr};
};
TORCH_MODULE(MlpBlock);

/// MONAI's SABlock (monai/networks/blocks/selfattention.py): multi-head scaled dot-product
/// self-attention. `qkv` is one Linear(C, 3C) whose output features are laid out
/// (q|k|v, head, head_dim) — MONAI's "b h (qkv l d) -> qkv b l h d" — then softmax(q k^T / sqrt(d)) v
/// per head, heads concatenated, `out_proj` Linear(C, C).
class SelfAttentionImpl : public torch::nn::Module {
 public:
  /// Throws ConfigError unless num_heads divides hidden_size.
  SelfAttentionImpl(int64_t hidden_size, int64_t num_heads, double dropout = 0.0, bool qkv_bias = false);
  /// @param x [B,N,C] @return [B,N,C]
  torch::Tensor forward(const torch::Tensor& x);

 private:
  int64_t num_heads_;
  double scale_;
  torch::nn::Linear out_proj_{nullptr}, qkv_{nullptr};
  Dropout drop_output_{nullptr}, drop_weights_{nullptr};
};
TORCH_MODULE(SelfAttention);

/// MONAI's TransformerBlock (monai/networks/blocks/transformerblock.py):
/// x + attn(norm1(x)), then + mlp(norm2(x)).
class TransformerBlockImpl : public torch::nn::Module {
 public:
  TransformerBlockImpl(int64_t hidden_size, int64_t mlp_dim, int64_t num_heads, double dropout = 0.0,
                       bool qkv_bias = false);
  /// @param x [B,N,C] @return [B,N,C]
  torch::Tensor forward(const torch::Tensor& x);

 private:
  MlpBlock mlp_{nullptr};
  torch::nn::LayerNorm norm1_{nullptr};
  SelfAttention attn_{nullptr};
  torch::nn::LayerNorm norm2_{nullptr};
};
TORCH_MODULE(TransformerBlock);

/// Fills @p t in place with timm-style truncated normal values: N(0, @p std) clipped to [-2, 2]
/// (MONAI's trunc_normal_ with a=-2, b=2; with std 0.02 the clip never binds, so a plain normal
/// clamped is the same distribution). The transformers' position tables and Linear weights.
void trunc_normal(torch::Tensor t, double std);

}  // namespace tomograd::models
