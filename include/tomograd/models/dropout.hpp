#pragma once
/// @file Dropout layers of tomograd's models: LibTorch's Dropout and Dropout3d arithmetic (no
/// parameters, so state dicts are unchanged), with masks from batch_keep_mask(): while the
/// trainer has installed a BatchDrawScope, a sample's mask depends on the run's seed, the epoch,
/// the batch and the sample's place in the global batch, never on the world size or the rank
/// (core/batch_draws.hpp). Outside a scope they draw from LibTorch's generator, as LibTorch's do.
#include <torch/torch.h>

namespace tomograd::models {

/// Element-wise dropout: zeros each element with probability @p p and scales the rest by
/// 1/(1-p) while @p training; @p x unchanged otherwise or for p = 0.
torch::Tensor batch_dropout(const torch::Tensor& x, double p, bool training);
/// Channel dropout of [N, C, ...] (LibTorch's Dropout2d/3d): whole channels of a sample.
torch::Tensor batch_channel_dropout(const torch::Tensor& x, double p, bool training);
/// Stochastic depth (MONAI's DropPath, scale_by_keep): the whole of a sample's @p x (its first
/// dimension) is zeroed with probability @p p, the rest scaled by 1/(1-p).
torch::Tensor drop_path(const torch::Tensor& x, double p, bool training);

/// Throws ValueError unless 0 <= @p p < 1 (names @p what).
void check_dropout_rate(double p, const char* what);

/// LibTorch's Dropout (element-wise) or, with @p kChannels, its Dropout2d/3d (whole channels of
/// [N, C, ...]), drawing batch-keyed masks. Defined for false and true in dropout.cpp.
template <bool kChannels>
class KeyedDropoutImpl : public torch::nn::Cloneable<KeyedDropoutImpl<kChannels>> {
 public:
  explicit KeyedDropoutImpl(double p = 0.5);
  void reset() override {}
  torch::Tensor forward(const torch::Tensor& x);
  void pretty_print(std::ostream& stream) const override;
  double p() const { return p_; }

 private:
  static const char* name();
  double p_;
};

using DropoutImpl = KeyedDropoutImpl<false>;
TORCH_MODULE(Dropout);
/// Dropout of whole channels of [N, C, D, H, W] inputs.
using Dropout3dImpl = KeyedDropoutImpl<true>;
TORCH_MODULE(Dropout3d);

}  // namespace tomograd::models
