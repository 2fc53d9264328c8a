#pragma once
// The ResNet basic block in 2D (torchvision's BasicBlock) and 3D (MONAI's ResNetBlock, MedicalNet's
// BasicBlock): conv1 (3^D, stride), bn1, relu, conv2 (3^D), bn2, plus the shortcut, then relu. The
// module names (conv1, bn1, conv2, bn2, downsample) are those of both projects' checkpoints.
#include <torch/torch.h>

#include <type_traits>

namespace tomograd::models::detail {

template <size_t D, class BatchNorm>
class BasicBlockImpl : public torch::nn::Module {
  static_assert(D == 2 || D == 3, "2D or 3D");
  using Conv = std::conditional_t<D == 2, torch::nn::Conv2d, torch::nn::Conv3d>;

 public:
  static constexpr int64_t kExpansion = 1;

  BasicBlockImpl(int64_t inplanes, int64_t planes, int64_t stride, torch::nn::Sequential downsample)
      : conv1_(register_module("conv1", conv3(inplanes, planes, stride))),
        bn1_(register_module("bn1", BatchNorm(planes))),
        conv2_(register_module("conv2", conv3(planes, planes, 1))),
        bn2_(register_module("bn2", BatchNorm(planes))),
        downsample_(std::move(downsample)) {
    if (downsample_) register_module("downsample", downsample_);
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor out = bn1_(conv1_(x)).relu_();
    out = bn2_(conv2_(out));
    out += downsample_ ? downsample_->forward(x) : x;
    return out.relu_();
  }

  /// bn2: torchvision's zero_init_residual sets its weight to zero.
  BatchNorm last_bn() const { return bn2_; }

 private:
  static Conv conv3(int64_t in, int64_t out, int64_t stride) {
    return Conv(torch::nn::ConvOptions<D>(in, out, 3).stride(stride).padding(1).bias(false));
  }

  Conv conv1_;
  BatchNorm bn1_;
  Conv conv2_;
  BatchNorm bn2_;
  torch::nn::Sequential downsample_;
};

}  // namespace tomograd::models::detail
