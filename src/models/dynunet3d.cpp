// DynUNet's encoder as MONAI builds it (Project-MONAI/MONAI: monai/networks/nets/dynunet.py at
// 01de79f3, DynUNet.__init__/get_input_block/get_downsamples/get_bottleneck; and
// monai/networks/blocks/dynunet_block.py at 06b28e5b, UnetResBlock/UnetBasicBlock/get_conv_layer/
// get_padding), written anew with MONAI's module names. Each MONAI get_conv_layer here is a
// `Convolution` without norm/act whose only parametrized child is `conv` (bias false), padded by
// (kernel - stride + 1) // 2.
#include "tomograd/models/dynunet3d.hpp"

#include <algorithm>

#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/models/batch_norm.hpp"

namespace tomograd::models {

namespace {

namespace nn = torch::nn;

nn::Sequential conv_layer(int64_t in, int64_t out, const std::vector<int64_t>& kernel,
                          const std::vector<int64_t>& stride, double dropout) {
  std::vector<int64_t> pad(3);
  for (int i = 0; i < 3; ++i) pad[i] = (kernel[i] - stride[i] + 1) / 2;
  nn::Sequential s;
  s->push_back("conv", nn::Conv3d(nn::Conv3dOptions(in, out, torch::IntArrayRef(kernel))
                                      .stride(torch::IntArrayRef(stride))
                                      .padding(torch::IntArrayRef(pad))
                                      .bias(false)));
  // MONAI's ADN("D"): element-wise dropout after the convolution, no parameters.
  if (dropout > 0) s->push_back("adn", Dropout(dropout));
  return s;
}

nn::AnyModule norm_layer(const std::string& norm, int64_t channels) {
  if (norm == "batch") return nn::AnyModule(BatchNorm3d(channels));
  return nn::AnyModule(nn::InstanceNorm3d(nn::InstanceNorm3dOptions(channels).affine(true)));
}

// UnetBasicBlock (res = false) or UnetResBlock (res = true).
class UnetBlock3dImpl : public nn::Module {
 public:
  UnetBlock3dImpl(int64_t in, int64_t out, const std::vector<int64_t>& kernel, const std::vector<int64_t>& stride,
                  const std::string& norm, bool res, double dropout) {
    conv1_ = register_module("conv1", conv_layer(in, out, kernel, stride, dropout));
    conv2_ = register_module("conv2", conv_layer(out, out, kernel, {1, 1, 1}, dropout));
    norm1_ = norm_layer(norm, out);
    norm2_ = norm_layer(norm, out);
    register_module("norm1", norm1_.ptr());
    register_module("norm2", norm2_.ptr());
    const bool strided = std::any_of(stride.begin(), stride.end(), [](int64_t s) { return s != 1; });
    if (res && (in != out || strided)) {
      conv3_ = register_module("conv3", conv_layer(in, out, {1, 1, 1}, stride, dropout));
      norm3_ = norm_layer(norm, out);
      register_module("norm3", norm3_.ptr());
    }
    res_ = res;
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor y = torch::leaky_relu(norm1_.forward(conv1_->forward(x)), 0.01);
    y = norm2_.forward(conv2_->forward(y));
    if (res_) y = y + (conv3_ ? norm3_.forward(conv3_->forward(x)) : x);
    return torch::leaky_relu(y, 0.01);
  }

 private:
  nn::Sequential conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  nn::AnyModule norm1_, norm2_, norm3_;
  bool res_ = false;
};
TORCH_MODULE(UnetBlock3d);

void validate(const DynUNet3dOptions& o) {
  const auto& l = o.layout;
  auto fail = [](const std::string& key, const std::string& what) {
    throw ConfigError("dynunet3d." + key + ": " + what);
  };
  if (l.kernel_size.size() < 3) {
    fail("kernel_size", "expected >= 3 levels (input block, downsamples, bottleneck), got " +
                            std::to_string(l.kernel_size.size()));
  }
  if (l.strides.size() != l.kernel_size.size()) {
    fail("strides", "expected one per level (" + std::to_string(l.kernel_size.size()) + "), got " +
                        std::to_string(l.strides.size()));
  }
  if (!l.filters.empty() && l.filters.size() != l.kernel_size.size()) {
    fail("filters", "expected one per level (" + std::to_string(l.kernel_size.size()) + ") or none, got " +
                        std::to_string(l.filters.size()));
  }
  for (size_t i = 0; i < l.kernel_size.size(); ++i) {
    const auto& k = l.kernel_size[i];
    const auto& s = l.strides[i];
    const std::string at = " at level " + std::to_string(i);
    if (k.size() != 3) fail("kernel_size", "expected [depth, height, width]" + at);
    if (s.size() != 3) fail("strides", "expected [depth, height, width]" + at);
    for (int a = 0; a < 3; ++a) {
      if (k[a] < 1) fail("kernel_size", "expected sizes >= 1" + at);
      if (s[a] < 1) fail("strides", "expected strides >= 1" + at);
      if (k[a] - s[a] + 1 < 0) fail("strides", "a stride larger than kernel + 1 gives negative padding" + at);
    }
  }
  for (int64_t f : l.filters) {
    if (f < 1) fail("filters", "expected >= 1, got " + std::to_string(f));
  }
  if (l.norm != "instance" && l.norm != "batch") fail("norm", "expected instance or batch, got '" + l.norm + "'");
  if (!(l.dropout >= 0.0 && l.dropout < 1.0)) fail("dropout", "expected in [0, 1), got " + std::to_string(l.dropout));
  if (o.in_channels < 1) fail("in_channels", "expected >= 1, got " + std::to_string(o.in_channels));
}

}  // namespace

std::vector<int64_t> DynUNet3dLayout::level_filters() const {
  if (!filters.empty()) return filters;
  std::vector<int64_t> f;
  for (size_t i = 0; i < strides.size(); ++i) f.push_back(std::min<int64_t>(int64_t{1} << (5 + i), 320));
  return f;
}

void decode_dynunet3d_layout(ConfigReader& r, DynUNet3dLayout& out) {
  r.get("kernel_size", out.kernel_size)
      .get("strides", out.strides)
      .get("filters", out.filters)
      .get("norm", out.norm)
      .get("res_block", out.res_block)
      .get("dropout", out.dropout);
  r.finish();
}

DynUNet3dImpl::DynUNet3dImpl(const DynUNet3dOptions& options) : options_(options) {
  validate(options_);
  const auto& l = options_.layout;
  const std::vector<int64_t> f = l.level_filters();
  const size_t n = f.size();
  auto block = [&](int64_t in, size_t level) {
    return UnetBlock3d(in, f[level], l.kernel_size[level], l.strides[level], l.norm, l.res_block, l.dropout);
  };
  input_block_ = nn::AnyModule(block(options_.in_channels, 0));
  register_module("input_block", input_block_.ptr());
  downsamples_ = nn::Sequential();
  for (size_t i = 1; i + 1 < n; ++i) downsamples_->push_back(block(f[i - 1], i));
  register_module("downsamples", downsamples_);
  bottleneck_ = nn::AnyModule(block(f[n - 2], n - 1));
  register_module("bottleneck", bottleneck_.ptr());

  // MONAI's DynUNet.initialize_weights: He normal with a = 0.01 for convolutions, zero biases.
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv3d>()) nn::init::kaiming_normal_(conv->weight, 0.01);
  }
  build_head(options_.in_channels, f[n - 1], options_.head);
}

torch::Tensor DynUNet3dImpl::embed(const torch::Tensor& x) {
  torch::Tensor y = input_block_.forward(x);
  y = downsamples_->forward(y);
  y = bottleneck_.forward(y);
  return y.mean({2, 3, 4});
}

}  // namespace tomograd::models
