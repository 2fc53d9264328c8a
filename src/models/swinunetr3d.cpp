// The Swin Transformer encoder of MONAI's SwinUNETR (Project-MONAI/MONAI at 0350dd5d:
// monai/networks/nets/swin_unetr.py window_partition, window_reverse, get_window_size,
// WindowAttention, SwinTransformerBlock, PatchMerging, compute_mask, BasicLayer, SwinTransformer;
// PatchMergingV2 as in later MONAI; monai/networks/blocks/patchembedding.py PatchEmbed), written
// anew with MONAI's module names.
#include "tomograd/models/swinunetr3d.hpp"

#include <array>
#include <cmath>
#include <optional>

#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::models {

namespace {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

// [B,D,H,W,C] -> [B*nW, wd*wh*ww, C], windows in (d, h, w) order.
torch::Tensor window_partition(const torch::Tensor& x, const std::vector<int64_t>& ws) {
  const int64_t b = x.size(0), d = x.size(1), h = x.size(2), w = x.size(3), c = x.size(4);
  return x.view({b, d / ws[0], ws[0], h / ws[1], ws[1], w / ws[2], ws[2], c})
      .permute({0, 1, 3, 5, 2, 4, 6, 7})
      .reshape({-1, ws[0] * ws[1] * ws[2], c});
}

// The inverse of window_partition.
torch::Tensor window_reverse(const torch::Tensor& windows, const std::vector<int64_t>& ws, int64_t b, int64_t d,
                             int64_t h, int64_t w) {
  return windows.view({b, d / ws[0], h / ws[1], w / ws[2], ws[0], ws[1], ws[2], -1})
      .permute({0, 1, 4, 2, 5, 3, 6, 7})
      .reshape({b, d, h, w, -1});
}

// Python's slice(start, stop) on an axis of length n as [begin, end) (MONAI's compute_mask uses
// slice(-window), slice(-window, -shift) and slice(-shift, None); with shift 0 the last is the
// whole axis, which is why an unshifted axis ends as one region).
std::pair<int64_t, int64_t> py_slice(int64_t n, std::optional<int64_t> start, std::optional<int64_t> stop) {
  auto clamp = [n](int64_t i) {
    if (i < 0) i += n;
    return std::max<int64_t>(0, std::min(i, n));
  };
  const int64_t b = start ? clamp(*start) : 0;
  const int64_t e = stop ? clamp(*stop) : n;
  return {b, std::max(b, e)};
}

// Patch merging: 2×2×2 neighbours concatenated (8C), LayerNorm, Linear 8C -> 2C without bias.
class PatchMerging3dImpl : public nn::Module {
 public:
  PatchMerging3dImpl(int64_t dim, bool v2)
      : v2_(v2),
        reduction_(register_module("reduction", nn::Linear(nn::LinearOptions(8 * dim, 2 * dim).bias(false)))),
        norm_(register_module("norm", nn::LayerNorm(nn::LayerNormOptions({8 * dim})))) {}

  // [B,D,H,W,C] -> [B,ceil(D/2),ceil(H/2),ceil(W/2),2C]
  torch::Tensor forward(torch::Tensor x) {
    const int64_t d = x.size(1), h = x.size(2), w = x.size(3);
    if (d % 2 || h % 2 || w % 2) x = F::pad(x, F::PadFuncOptions({0, 0, 0, w % 2, 0, h % 2, 0, d % 2}));
    using Offset = std::array<int64_t, 3>;
    // v0.9.0's order repeats (0,1,0) and (0,0,1) and never takes (1,1,0) or (0,1,1); MONAI keeps
    // it as the default because the published SwinUNETR weights were trained with it.
    static const std::array<Offset, 8> kV1 = {
        {{0, 0, 0}, {1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 0, 1}, {0, 1, 0}, {0, 0, 1}, {1, 1, 1}}};
    static const std::array<Offset, 8> kV2 = {
        {{0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {0, 1, 1}, {1, 0, 0}, {1, 0, 1}, {1, 1, 0}, {1, 1, 1}}};
    using torch::indexing::None;
    using torch::indexing::Slice;
    std::vector<torch::Tensor> parts;
    for (const Offset& o : v2_ ? kV2 : kV1) {
      parts.push_back(x.index({Slice(), Slice(o[0], None, 2), Slice(o[1], None, 2), Slice(o[2], None, 2), Slice()}));
    }
    return reduction_(norm_(torch::cat(parts, -1)));
  }

 private:
  bool v2_;
  nn::Linear reduction_;
  nn::LayerNorm norm_;
};
TORCH_MODULE(PatchMerging3d);

// One stage: `blocks` (even blocks unshifted, odd ones shifted by half a window) and `downsample`.
class BasicLayer3dImpl : public nn::Module {
 public:
  BasicLayer3dImpl(int64_t dim, int64_t depth, int64_t heads, const SwinUNETR3dLayout& l,
                   const std::vector<double>& drop_paths)
      : window_(l.window_size) {
    for (int64_t s : window_) shift_.push_back(s / 2);
    blocks_ = nn::ModuleList();
    for (int64_t i = 0; i < depth; ++i) {
      blocks_->push_back(SwinBlock3d(dim, heads, window_, i % 2 == 0 ? std::vector<int64_t>{0, 0, 0} : shift_, 4.0,
                                     true, l.drop_rate, l.attn_drop_rate, drop_paths[static_cast<size_t>(i)]));
    }
    register_module("blocks", blocks_);
    downsample_ = register_module("downsample", PatchMerging3d(dim, l.downsample == "mergingv2"));
  }

  // [B,C,D,H,W] -> [B,2C,D/2,H/2,W/2]
  torch::Tensor forward(const torch::Tensor& input) {
    const int64_t b = input.size(0), d = input.size(2), h = input.size(3), w = input.size(4);
    auto [ws, ss] = swin_window_and_shift({d, h, w}, window_, shift_);
    std::vector<int64_t> padded{d, h, w};
    for (int a = 0; a < 3; ++a) padded[a] = (padded[a] + ws[a] - 1) / ws[a] * ws[a];
    torch::Tensor mask = swin_attention_mask(padded, ws, ss).to(input.device(), input.scalar_type());
    torch::Tensor x = input.permute({0, 2, 3, 4, 1});
    for (const auto& blk : *blocks_) x = blk->as<SwinBlock3d>()->forward(x, mask);
    x = downsample_(x.reshape({b, d, h, w, -1}));
    return x.permute({0, 4, 1, 2, 3});
  }

 private:
  std::vector<int64_t> window_, shift_;
  nn::ModuleList blocks_{nullptr};
  PatchMerging3d downsample_{nullptr};
};
TORCH_MODULE(BasicLayer3d);

void validate(const SwinUNETR3dOptions& o) {
  const auto& l = o.layout;
  auto fail = [](const std::string& key, const std::string& what) {
    throw ConfigError("swinunetr3d." + key + ": " + what);
  };
  if (l.feature_size < 1) fail("feature_size", "expected >= 1, got " + std::to_string(l.feature_size));
  if (l.depths.size() != 4) fail("depths", "expected 4 stages (layers1..layers4), got " + std::to_string(l.depths.size()));
  if (l.num_heads.size() != 4) {
    fail("num_heads", "expected one per stage (4), got " + std::to_string(l.num_heads.size()));
  }
  for (size_t i = 0; i < 4; ++i) {
    if (l.depths[i] < 1) fail("depths", "every stage needs >= 1 block");
    const int64_t dim = l.feature_size << i;
    if (l.num_heads[i] < 1 || dim % l.num_heads[i] != 0) {
      fail("num_heads", "stage " + std::to_string(i + 1) + " has " + std::to_string(dim) +
                            " channels, not divisible by " + std::to_string(l.num_heads[i]) + " heads");
    }
  }
  if (l.window_size.size() != 3) fail("window_size", "expected [depth, height, width]");
  if (l.patch_size.size() != 3) fail("patch_size", "expected [depth, height, width]");
  for (int a = 0; a < 3; ++a) {
    if (l.window_size[a] < 1) fail("window_size", "expected sizes >= 1");
    if (l.patch_size[a] < 1) fail("patch_size", "expected sizes >= 1");
  }
  for (auto [key, v] : {std::pair<const char*, double>{"drop_rate", l.drop_rate},
                        {"attn_drop_rate", l.attn_drop_rate},
                        {"dropout_path_rate", l.dropout_path_rate}}) {
    if (!(v >= 0.0 && v < 1.0)) fail(key, "expected in [0, 1), got " + std::to_string(v));
  }
  if (l.downsample != "merging" && l.downsample != "mergingv2") {
    fail("downsample", "expected merging or mergingv2, got '" + l.downsample + "'");
  }
  if (o.in_channels < 1) fail("in_channels", "expected >= 1, got " + std::to_string(o.in_channels));
}

}  // namespace

std::pair<std::vector<int64_t>, std::vector<int64_t>> swin_window_and_shift(const std::vector<int64_t>& dims,
                                                                           const std::vector<int64_t>& window,
                                                                           const std::vector<int64_t>& shift) {
  std::vector<int64_t> ws = window, ss = shift;
  for (size_t a = 0; a < dims.size(); ++a) {
    if (dims[a] <= window[a]) {
      ws[a] = dims[a];
      ss[a] = 0;
    }
  }
  return {ws, ss};
}

torch::Tensor swin_attention_mask(const std::vector<int64_t>& dims, const std::vector<int64_t>& ws,
                                  const std::vector<int64_t>& ss) {
  // Label the regions that the cyclic shift brings together, exactly as MONAI's loops over
  // Python slices do (later slices overwrite earlier ones), then compare labels within windows.
  torch::Tensor img = torch::zeros({1, dims[0], dims[1], dims[2], 1});
  auto regions = [&](int a) {
    const int64_t n = dims[a];
    return std::array<std::pair<int64_t, int64_t>, 3>{py_slice(n, std::nullopt, -ws[a]),
                                                      py_slice(n, -ws[a], -ss[a]),
                                                      py_slice(n, -ss[a], std::nullopt)};
  };
  using torch::indexing::Slice;
  float cnt = 0;
  for (auto [d0, d1] : regions(0)) {
    for (auto [h0, h1] : regions(1)) {
      for (auto [w0, w1] : regions(2)) {
        img.index_put_({Slice(), Slice(d0, d1), Slice(h0, h1), Slice(w0, w1), Slice()}, cnt);
        cnt += 1;
      }
    }
  }
  torch::Tensor mw = window_partition(img, ws).squeeze(-1);  // [nW, n]
  torch::Tensor diff = mw.unsqueeze(1) - mw.unsqueeze(2);
  return torch::where(diff != 0, torch::full_like(diff, -100.0f), torch::zeros_like(diff));
}

WindowAttention3dImpl::WindowAttention3dImpl(int64_t dim, int64_t num_heads, std::vector<int64_t> ws, bool qkv_bias,
                                             double attn_drop, double proj_drop)
    : num_heads_(num_heads) {
  if (num_heads < 1 || dim % num_heads != 0) {
    throw ConfigError("window attention: " + std::to_string(dim) + " channels are not divisible by " +
                      std::to_string(num_heads) + " heads");
  }
  scale_ = 1.0 / std::sqrt(static_cast<double>(dim / num_heads));
  relative_position_bias_table_ = register_parameter(
      "relative_position_bias_table", torch::zeros({(2 * ws[0] - 1) * (2 * ws[1] - 1) * (2 * ws[2] - 1), num_heads}));
  // Offsets between every pair of positions in a window, shifted to be >= 0 and flattened
  // (d major, w minor) into one index of the table.
  torch::Tensor coords = torch::stack(torch::meshgrid({torch::arange(ws[0]), torch::arange(ws[1]), torch::arange(ws[2])},
                                                      "ij"))
                             .flatten(1);  // [3, n]
  torch::Tensor rel = (coords.unsqueeze(2) - coords.unsqueeze(1)).permute({1, 2, 0}).contiguous();  // [n, n, 3]
  rel.select(2, 0).add_(ws[0] - 1).mul_((2 * ws[1] - 1) * (2 * ws[2] - 1));
  rel.select(2, 1).add_(ws[1] - 1).mul_(2 * ws[2] - 1);
  rel.select(2, 2).add_(ws[2] - 1);
  relative_position_index_ = register_buffer("relative_position_index", rel.sum(-1));
  qkv_ = register_module("qkv", nn::Linear(nn::LinearOptions(dim, 3 * dim).bias(qkv_bias)));
  attn_drop_ = register_module("attn_drop", Dropout(attn_drop));
  proj_ = register_module("proj", nn::Linear(dim, dim));
  proj_drop_ = register_module("proj_drop", Dropout(proj_drop));
  trunc_normal(relative_position_bias_table_, 0.02);
}

torch::Tensor WindowAttention3dImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t b = x.size(0), n = x.size(1), c = x.size(2);
  torch::Tensor qkv = qkv_(x).reshape({b, n, 3, num_heads_, c / num_heads_}).permute({2, 0, 3, 1, 4});
  torch::Tensor q = qkv[0] * scale_, k = qkv[1], v = qkv[2];
  torch::Tensor attn = torch::matmul(q, k.transpose(-2, -1));  // [b, heads, n, n]
  // A window shrunk to a small axis uses the top-left n x n block of the full window's index,
  // as MONAI does.
  using torch::indexing::Slice;
  torch::Tensor index = relative_position_index_.index({Slice(0, n), Slice(0, n)}).reshape({-1});
  torch::Tensor bias = relative_position_bias_table_.index_select(0, index).reshape({n, n, -1}).permute({2, 0, 1});
  attn = attn + bias.unsqueeze(0);
  if (mask.defined()) {
    const int64_t nw = mask.size(0);
    attn = attn.view({b / nw, nw, num_heads_, n, n}) + mask.unsqueeze(1).unsqueeze(0);
    attn = attn.view({-1, num_heads_, n, n});
  }
  attn = attn_drop_(torch::softmax(attn, -1));
  torch::Tensor y = torch::matmul(attn, v).transpose(1, 2).reshape({b, n, c});
  return proj_drop_(proj_(y));
}

SwinBlock3dImpl::SwinBlock3dImpl(int64_t dim, int64_t num_heads, std::vector<int64_t> window_size,
                                 std::vector<int64_t> shift_size, double mlp_ratio, bool qkv_bias, double drop,
                                 double attn_drop, double drop_path)
    : window_size_(std::move(window_size)), shift_size_(std::move(shift_size)), drop_path_(drop_path) {
  norm1_ = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({dim})));
  attn_ = register_module("attn", WindowAttention3d(dim, num_heads, window_size_, qkv_bias, attn_drop, drop));
  norm2_ = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({dim})));
  mlp_ = register_module("mlp", MlpBlock(dim, static_cast<int64_t>(dim * mlp_ratio), drop));
}

torch::Tensor SwinBlock3dImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t b = x.size(0), d = x.size(1), h = x.size(2), w = x.size(3), c = x.size(4);
  auto [ws, ss] = swin_window_and_shift({d, h, w}, window_size_, shift_size_);
  torch::Tensor y = norm1_(x);
  const int64_t pd = (ws[0] - d % ws[0]) % ws[0], ph = (ws[1] - h % ws[1]) % ws[1], pw = (ws[2] - w % ws[2]) % ws[2];
  if (pd || ph || pw) y = F::pad(y, F::PadFuncOptions({0, 0, 0, pw, 0, ph, 0, pd}));
  const int64_t dp = d + pd, hp = h + ph, wp = w + pw;
  const bool shifted = ss[0] > 0 || ss[1] > 0 || ss[2] > 0;
  if (shifted) y = torch::roll(y, {-ss[0], -ss[1], -ss[2]}, {1, 2, 3});
  torch::Tensor windows = attn_(window_partition(y, ws), shifted ? mask : torch::Tensor());
  y = window_reverse(windows.view({-1, ws[0], ws[1], ws[2], c}), ws, b, dp, hp, wp);
  if (shifted) y = torch::roll(y, {ss[0], ss[1], ss[2]}, {1, 2, 3});
  using torch::indexing::Slice;
  if (pd || ph || pw) y = y.index({Slice(), Slice(0, d), Slice(0, h), Slice(0, w), Slice()}).contiguous();
  torch::Tensor out = x + drop_path(y, drop_path_, is_training());
  return out + drop_path(mlp_(norm2_(out)), drop_path_, is_training());
}

void decode_swinunetr3d_layout(ConfigReader& r, SwinUNETR3dLayout& out) {
  r.get("feature_size", out.feature_size)
      .get("depths", out.depths)
      .get("num_heads", out.num_heads)
      .get("window_size", out.window_size)
      .get("patch_size", out.patch_size)
      .get("drop_rate", out.drop_rate)
      .get("attn_drop_rate", out.attn_drop_rate)
      .get("dropout_path_rate", out.dropout_path_rate)
      .get("normalize", out.normalize)
      .get("downsample", out.downsample);
  r.finish();
}

SwinUNETR3dImpl::SwinUNETR3dImpl(const SwinUNETR3dOptions& options) : options_(options) {
  validate(options_);
  const auto& l = options_.layout;
  auto vit = std::make_shared<nn::Module>();
  auto patch_embed = std::make_shared<nn::Module>();
  proj_ = patch_embed->register_module(
      "proj", nn::Conv3d(nn::Conv3dOptions(options_.in_channels, l.feature_size, torch::IntArrayRef(l.patch_size))
                             .stride(torch::IntArrayRef(l.patch_size))));
  vit->register_module("patch_embed", patch_embed);
  pos_drop_ = vit->register_module("pos_drop", Dropout(l.drop_rate));
  // Stochastic depth rises linearly from 0 to dropout_path_rate over all blocks (torch.linspace).
  const int64_t total = l.depths[0] + l.depths[1] + l.depths[2] + l.depths[3];
  int64_t k = 0;
  for (size_t i = 0; i < 4; ++i) {
    std::vector<double> dpr;
    for (int64_t j = 0; j < l.depths[i]; ++j, ++k) {
      dpr.push_back(total > 1 ? l.dropout_path_rate * static_cast<double>(k) / static_cast<double>(total - 1) : 0.0);
    }
    auto stage = BasicLayer3d(l.feature_size << i, l.depths[i], l.num_heads[i], l, dpr);
    nn::ModuleList holder;  // MONAI keeps each stage in a one-element ModuleList: layers1.0.*
    holder->push_back(stage);
    vit->register_module("layers" + std::to_string(i + 1), holder);
    stages_.push_back(stage.ptr());
  }
  register_module("swinViT", vit);
  build_head(options_.in_channels, l.feature_size * 16, options_.head);
}

torch::Tensor SwinUNETR3dImpl::embed(const torch::Tensor& input) {
  const auto& p = options_.layout.patch_size;
  torch::Tensor x = input;
  // PatchEmbed pads each axis at the far end to a whole number of patches.
  const int64_t d = x.size(2), h = x.size(3), w = x.size(4);
  const int64_t pd = (p[0] - d % p[0]) % p[0], ph = (p[1] - h % p[1]) % p[1], pw = (p[2] - w % p[2]) % p[2];
  if (pd || ph || pw) x = F::pad(x, F::PadFuncOptions({0, pw, 0, ph, 0, pd}));
  x = pos_drop_(proj_(x));
  for (const auto& stage : stages_) x = stage->as<BasicLayer3d>()->forward(x);
  if (options_.layout.normalize) {
    // MONAI's proj_out(normalize=True): layer norm over channels without affine parameters.
    x = F::layer_norm(x.permute({0, 2, 3, 4, 1}), F::LayerNormFuncOptions({x.size(1)})).permute({0, 4, 1, 2, 3});
  }
  return x.mean({2, 3, 4});
}

}  // namespace tomograd::models
