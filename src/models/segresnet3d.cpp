// SegResNet's encoder as MONAI builds it (Project-MONAI/MONAI at 01ad2196:
// monai/networks/nets/segresnet.py SegResNet.__init__/_make_down_layers/forward and
// monai/networks/blocks/segresnet_block.py get_conv_layer/ResBlock), written anew with MONAI's
// module names. MONAI's get_conv_layer is a `Convolution(conv_only=True)`, a Sequential whose only
// child is `conv` with "same" padding and no bias.
#include "tomograd/models/segresnet3d.hpp"

#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"

#include "stack.hpp"

namespace tomograd::models {

namespace {

namespace nn = torch::nn;

using detail::Stack;

Stack conv_layer(int64_t in, int64_t out, int64_t stride) {
  Stack s;
  s->push_back("conv", nn::Conv3d(nn::Conv3dOptions(in, out, 3).stride(stride).padding(1).bias(false)));
  return s;
}

// Pre-activation residual block: GN-ReLU-conv, GN-ReLU-conv, + input (channels unchanged).
class ResBlock3dImpl : public nn::Module {
 public:
  ResBlock3dImpl(int64_t channels, int64_t groups)
      : norm1_(register_module("norm1", nn::GroupNorm(groups, channels))),
        norm2_(register_module("norm2", nn::GroupNorm(groups, channels))),
        conv1_(register_module("conv1", conv_layer(channels, channels, 1))),
        conv2_(register_module("conv2", conv_layer(channels, channels, 1))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = conv1_->forward(torch::relu(norm1_(x)));
    y = conv2_->forward(torch::relu(norm2_(y)));
    return y + x;
  }

 private:
  nn::GroupNorm norm1_, norm2_;
  Stack conv1_, conv2_;
};
TORCH_MODULE(ResBlock3d);

void validate(const SegResNet3dOptions& o) {
  const auto& l = o.layout;
  auto fail = [](const std::string& key, const std::string& what) {
    throw ConfigError("segresnet3d." + key + ": " + what);
  };
  if (l.norm_groups < 1) fail("norm_groups", "expected >= 1, got " + std::to_string(l.norm_groups));
  if (l.init_filters < 1 || l.init_filters % l.norm_groups != 0) {
    fail("init_filters", "expected a positive multiple of norm_groups (" + std::to_string(l.norm_groups) + "), got " +
                             std::to_string(l.init_filters));
  }
  if (l.blocks_down.empty()) fail("blocks_down", "expected at least one level");
  for (int64_t n : l.blocks_down) {
    if (n < 0) fail("blocks_down", "expected >= 0 blocks per level, got " + std::to_string(n));
  }
  if (!(l.dropout >= 0.0 && l.dropout < 1.0)) fail("dropout", "expected in [0, 1), got " + std::to_string(l.dropout));
  if (o.in_channels < 1) fail("in_channels", "expected >= 1, got " + std::to_string(o.in_channels));
}

}  // namespace

void decode_segresnet3d_layout(ConfigReader& r, SegResNet3dLayout& out) {
  r.get("init_filters", out.init_filters)
      .get("blocks_down", out.blocks_down)
      .get("norm_groups", out.norm_groups)
      .get("dropout", out.dropout);
  r.finish();
}

SegResNet3dImpl::SegResNet3dImpl(const SegResNet3dOptions& options) : options_(options) {
  validate(options_);
  const auto& l = options_.layout;
  conv_init_ = nn::AnyModule(conv_layer(options_.in_channels, l.init_filters, 1));
  register_module("convInit", conv_init_.ptr());
  if (l.dropout > 0) dropout_ = register_module("dropout", Dropout3d(l.dropout));
  down_layers_ = nn::ModuleList();
  int64_t channels = l.init_filters;
  for (size_t i = 0; i < l.blocks_down.size(); ++i) {
    channels = l.init_filters << i;
    Stack level;
    // MONAI puts an nn.Identity first on level 0, so its ResBlocks are numbered from 1 there too.
    if (i == 0) {
      level->push_back(nn::Identity());
    } else {
      level->push_back(conv_layer(channels / 2, channels, 2));
    }
    for (int64_t b = 0; b < l.blocks_down[i]; ++b) level->push_back(ResBlock3d(channels, l.norm_groups));
    down_layers_->push_back(level);
  }
  register_module("down_layers", down_layers_);
  build_head(options_.in_channels, channels, options_.head);
}

torch::Tensor SegResNet3dImpl::embed(const torch::Tensor& x) {
  torch::Tensor y = conv_init_.forward(x);
  if (dropout_) y = dropout_(y);
  for (const auto& level : *down_layers_) y = level->as<Stack>()->forward(y);
  return y.mean({2, 3, 4});
}

}  // namespace tomograd::models
