#pragma once
/// @file The base class of every tomograd model: a backbone producing an embedding, plus a head.
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "tomograd/models/dropout.hpp"
#include "tomograd/models/head.hpp"

namespace tomograd::models {

/// A backbone (ResNet, SimpleCNN, ResNet3D, ...) followed by the head described by HeadOptions.
///
/// Derived classes build their layers, then call build_head() last (so `fc` is registered after
/// the backbone, as in torchvision) and implement embed(). forward() only uses tensor operations
/// and branches on options fixed at construction, so a traced graph of it is input-independent
/// (see docs/models.md, "Export").
class Model : public torch::nn::Module {
 public:
  /// Runs the model.
  /// @param x [N,C,H,W] (2D models) or [N,C,D,H,W] (3D models) float32, C = in_channels()
  /// @param metadata [N,metadata_dim] float32, required when the head fuses metadata, else
  ///        ignored (pass an undefined tensor)
  /// @return [N, ...head_options().output_shape()] float32 (raw values or logits)
  /// Throws ValueError when a shape does not fit.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& metadata = {});

  /// The penultimate embedding used for feature extraction: the backbone output before the head
  /// (and before metadata fusion).
  /// @param x as for forward()
  /// @return [N, embedding_dim()] float32
  torch::Tensor features(const torch::Tensor& x);

  /// The last convolutional feature maps, before global pooling ([N,K,h,w] for 2D models), for
  /// class activation maps; features() is their spatial mean. Throws ValueError for models
  /// without such maps (the default).
  virtual torch::Tensor feature_maps(const torch::Tensor& x);

  /// The head alone on an embedding [N, embedding_dim()] (no metadata fusion): forward(x) equals
  /// head_forward(features(x)) for models without metadata. Throws ValueError with metadata.
  torch::Tensor head_forward(const torch::Tensor& embedding);

  /// Length of the features() vector (512 for resnet18, 2048 for resnet50, ...).
  int64_t embedding_dim() const { return embedding_dim_; }
  /// Number of input channels the first convolution expects.
  int64_t in_channels() const { return in_channels_; }
  /// 2 for slice models ([N,C,H,W]), 3 for volume models ([N,C,D,H,W]).
  virtual int spatial_dims() const = 0;
  /// Name of the first convolution (whose `.weight` is adapted to another channel count when
  /// pretrained weights are loaded), e.g. "conv1".
  virtual std::string input_conv() const = 0;
  /// Names of the head's modules that have parameters: {"head_hidden", "fc"} or {"fc"}.
  std::vector<std::string> head_modules() const;
  /// The head's options as built.
  const HeadOptions& head_options() const { return head_; }
  /// Re-initializes the head's parameters (PyTorch's default Linear initialization).
  void reset_head();
  /// Number of scalar parameters (trainable or not; buffers such as BatchNorm statistics are not
  /// counted), as `sum(p.numel() for p in model.parameters())` in PyTorch.
  int64_t parameter_count() const;

 protected:
  Model() = default;
  /// The backbone: input as for forward(), @return [N, embedding_dim()].
  virtual torch::Tensor embed(const torch::Tensor& x) = 0;
  /// Registers the head's modules; call once, at the end of the derived constructor.
  void build_head(int64_t in_channels, int64_t embedding_dim, const HeadOptions& head);

 private:
  void check_input(const torch::Tensor& x) const;
  /// Dropout, optional hidden layer and fc on a (fused) embedding.
  torch::Tensor run_head(torch::Tensor z);

  HeadOptions head_;
  int64_t in_channels_ = 0;
  int64_t embedding_dim_ = 0;
  Dropout dropout_{nullptr};
  torch::nn::Linear hidden_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

/// How models are passed around (the registry creates them).
using ModelPtr = std::shared_ptr<Model>;

/// "[2, 3, 64, 64]": a shape for messages.
std::string shape_string(c10::IntArrayRef shape);

}  // namespace tomograd::models
