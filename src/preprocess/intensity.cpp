#include "tomograd/preprocess/intensity.hpp"

#include <torch/torch.h>

#include <cmath>

#include "tomograd/core/error.hpp"

namespace tomograd::preprocess {

torch::Tensor apply_window(const torch::Tensor& values, const Window& window) {
  if (!(window.width > 0)) {
    throw ValueError("window width must be positive, got " + std::to_string(window.width));
  }
  torch::Tensor v = values.to(torch::kFloat32);
  torch::Tensor out = ((v - window.low()) / window.width).clamp(0.0, 1.0);
  return torch::nan_to_num(out, 0.0, 1.0, 0.0);
}

torch::Tensor apply_windows(const torch::Tensor& values, const std::vector<Window>& windows) {
  if (windows.empty()) throw ValueError("apply_windows: no window given");
  std::vector<torch::Tensor> channels;
  channels.reserve(windows.size());
  for (const auto& w : windows) channels.push_back(apply_window(values, w));
  return torch::stack(channels, 0);
}

NormalizeMethod parse_normalize_method(const std::string& name) {
  if (name == "none") return NormalizeMethod::kNone;
  if (name == "zscore") return NormalizeMethod::kZScore;
  if (name == "minmax") return NormalizeMethod::kMinMax;
  if (name == "fixed") return NormalizeMethod::kFixed;
  throw ValueError("unknown normalization '" + name + "' (valid: none, zscore, minmax, fixed)");
}

std::string to_string(NormalizeMethod m) {
  switch (m) {
    case NormalizeMethod::kNone: return "none";
    case NormalizeMethod::kZScore: return "zscore";
    case NormalizeMethod::kMinMax: return "minmax";
    case NormalizeMethod::kFixed: return "fixed";
  }
  return "none";
}

void NormalizeOptions::validate() const {
  if (mean.empty() || std.empty()) throw ConfigError("normalize.mean and normalize.std must not be empty");
  for (double s : std) {
    if (!(s > 0)) throw ConfigError("normalize.std must be > 0, got " + std::to_string(s));
  }
  if (!(eps > 0)) throw ConfigError("normalize.eps must be > 0");
}

torch::Tensor normalize(const torch::Tensor& x_in, const NormalizeOptions& o, const torch::Tensor& mask) {
  o.validate();
  if (x_in.dim() < 2) throw ValueError("normalize: expected [C,...] with at least 2 dimensions");
  torch::Tensor x = x_in.to(torch::kFloat32);
  if (o.method == NormalizeMethod::kNone) return x.clone();
  const int64_t channels = x.size(0);
  const bool use_mask = mask.defined() && o.within_mask;
  torch::Tensor m;
  if (use_mask) {
    if (!mask.sizes().equals(x.sizes().slice(1))) {
      throw ValueError("normalize: mask shape differs from the image's (without the channel axis)");
    }
    m = mask.ne(0);
    if (!m.any().item<bool>()) throw ValueError("normalize: the mask is empty");
  }
  if (o.method == NormalizeMethod::kFixed && o.mean.size() != 1 && static_cast<int64_t>(o.mean.size()) != channels) {
    throw ValueError("normalize: fixed mean has " + std::to_string(o.mean.size()) + " values for " +
                     std::to_string(channels) + " channels");
  }
  if (o.method == NormalizeMethod::kFixed && o.std.size() != 1 && static_cast<int64_t>(o.std.size()) != channels) {
    throw ValueError("normalize: fixed std has " + std::to_string(o.std.size()) + " values for " +
                     std::to_string(channels) + " channels");
  }
  std::vector<torch::Tensor> out;
  out.reserve(channels);
  for (int64_t c = 0; c < channels; ++c) {
    torch::Tensor ch = x[c];
    torch::Tensor values = use_mask ? ch.masked_select(m) : ch.reshape(-1);
    torch::Tensor r;
    if (o.method == NormalizeMethod::kZScore) {
      const double mean = values.to(torch::kFloat64).mean().item<double>();
      const double sd = values.to(torch::kFloat64).std(/*unbiased=*/false).item<double>();
      r = (ch - mean) / std::max(sd, o.eps);
    } else if (o.method == NormalizeMethod::kMinMax) {
      const double lo = values.min().item<double>(), hi = values.max().item<double>();
      r = (ch - lo) / std::max(hi - lo, o.eps);
    } else {
      const double mean = o.mean.size() == 1 ? o.mean[0] : o.mean[c];
      const double sd = o.std.size() == 1 ? o.std[0] : o.std[c];
      r = (ch - mean) / sd;
    }
    if (use_mask) r = torch::where(m, r, torch::full({}, static_cast<float>(o.outside_value)));
    out.push_back(r);
  }
  return torch::stack(out, 0).contiguous();
}

}  // namespace tomograd::preprocess
