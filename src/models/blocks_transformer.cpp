// Transformer blocks with MONAI's names (Project-MONAI/MONAI at 00108dc6/06b28e5b:
// monai/networks/blocks/mlp.py MLPBlock, selfattention.py SABlock, transformerblock.py
// TransformerBlock), written anew. Module registration order follows MONAI's __init__ so a
// state dict lists keys in the same order.
#include "tomograd/models/blocks_transformer.hpp"

#include <cmath>

#include "tomograd/core/error.hpp"

namespace tomograd::models {

namespace nn = torch::nn;

MlpBlockImpl::MlpBlockImpl(int64_t hidden_size, int64_t mlp_dim, double dropout)
    : linear1_(register_module("linear1", nn::Linear(hidden_size, mlp_dim))),
      linear2_(register_module("linear2", nn::Linear(mlp_dim, hidden_size))),
      drop_(register_module("drop1", Dropout(dropout))) {}

torch::Tensor MlpBlockImpl::forward(const torch::Tensor& x) {
  return drop_(linear2_(drop_(torch::gelu(linear1_(x)))));
}

SelfAttentionImpl::SelfAttentionImpl(int64_t hidden_size, int64_t num_heads, double dropout, bool qkv_bias)
    : num_heads_(num_heads) {
  if (num_heads < 1 || hidden_size % num_heads != 0) {
    throw ConfigError("attention: hidden size " + std::to_string(hidden_size) + " is not divisible by " +
                      std::to_string(num_heads) + " heads");
  }
  scale_ = 1.0 / std::sqrt(static_cast<double>(hidden_size / num_heads));
  out_proj_ = register_module("out_proj", nn::Linear(hidden_size, hidden_size));
  qkv_ = register_module("qkv", nn::Linear(nn::LinearOptions(hidden_size, 3 * hidden_size).bias(qkv_bias)));
  drop_output_ = register_module("drop_output", Dropout(dropout));
  drop_weights_ = register_module("drop_weights", Dropout(dropout));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  // [B,N,3C] -> [B,N,3,heads,d] -> [3,B,heads,N,d]
  torch::Tensor qkv = qkv_(x).view({b, n, 3, num_heads_, c / num_heads_}).permute({2, 0, 3, 1, 4});
  torch::Tensor q = qkv[0], k = qkv[1], v = qkv[2];
  torch::Tensor att = torch::matmul(q, k.transpose(-2, -1)) * scale_;
  att = drop_weights_(torch::softmax(att, -1));
  torch::Tensor y = torch::matmul(att, v).permute({0, 2, 1, 3}).reshape({b, n, c});
  return drop_output_(out_proj_(y));
}

TransformerBlockImpl::TransformerBlockImpl(int64_t hidden_size, int64_t mlp_dim, int64_t num_heads, double dropout,
                                           bool qkv_bias)
    : mlp_(register_module("mlp", MlpBlock(hidden_size, mlp_dim, dropout))),
      norm1_(register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({hidden_size})))),
      attn_(register_module("attn", SelfAttention(hidden_size, num_heads, dropout, qkv_bias))),
      norm2_(register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({hidden_size})))) {}

torch::Tensor TransformerBlockImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = x + attn_(norm1_(x));
  return y + mlp_(norm2_(y));
}

void trunc_normal(torch::Tensor t, double std) {
  torch::NoGradGuard no_grad;
  t.normal_(0.0, std).clamp_(-2.0, 2.0);
}

}  // namespace tomograd::models
