#include "tomograd/preprocess/intensity.hpp"

#include <torch/torch.h>

#include <cmath>

#include "tomograd/core/error.hpp"
#include "tomograd/core/memory.hpp"

#include "mask_ops.hpp"

namespace tomograd::preprocess {

torch::Tensor apply_window(const torch::Tensor& values, const Window& window) {
  if (!(window.width > 0)) {
    throw ValueError("window width must be positive, got " + std::to_string(window.width));
  }
  // One pass into one output instead of four torch ops (sub, div, clamp, nan_to_num), each of
  // which allocated a volume-sized float tensor (see mask_ops.hpp on why fresh memory is slow).
  const torch::Tensor v = values.to(torch::kFloat32).contiguous();
  torch::Tensor out = empty_for_fill(v.sizes(), torch::kFloat32);
  const float* src = v.data_ptr<float>();
  const auto low = static_cast<float>(window.low()), width = static_cast<float>(window.width);
  detail::fill_parallel(out.data_ptr<float>(), v.numel(), [&](int64_t i) {
    const float x = (src[i] - low) / width;
    // Clamp to [0,1]; NaN (no comparison holds) becomes 0, +-inf the nearer end.
    return x >= 0.0f ? (x <= 1.0f ? x : 1.0f) : 0.0f;
  });
  return out;
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
  if (name == "percentile") return NormalizeMethod::kPercentile;
  throw ValueError("unknown normalization '" + name + "' (valid: none, zscore, minmax, fixed, percentile)");
}

std::string to_string(NormalizeMethod m) {
  switch (m) {
    case NormalizeMethod::kNone: return "none";
    case NormalizeMethod::kZScore: return "zscore";
    case NormalizeMethod::kMinMax: return "minmax";
    case NormalizeMethod::kFixed: return "fixed";
    case NormalizeMethod::kPercentile: return "percentile";
  }
  return "none";
}

void NormalizeOptions::validate() const {
  if (mean.empty() || std.empty()) throw ConfigError("normalize.mean and normalize.std must not be empty");
  for (double s : std) {
    if (!(s > 0)) throw ConfigError("normalize.std must be > 0, got " + std::to_string(s));
  }
  if (!(eps > 0)) throw ConfigError("normalize.eps must be > 0");
  if (percentiles.size() != 2) {
    throw ConfigError("normalize.percentiles: expected [low, high], got " + std::to_string(percentiles.size()) +
                      " values");
  }
  if (!(percentiles[0] >= 0 && percentiles[0] < percentiles[1] && percentiles[1] <= 100)) {
    throw ConfigError("normalize.percentiles: expected 0 <= low < high <= 100, got [" +
                      std::to_string(percentiles[0]) + ", " + std::to_string(percentiles[1]) + "]");
  }
}

std::vector<double> percentiles_of(const torch::Tensor& values, const std::vector<double>& percents) {
  for (double p : percents) {
    if (!(p >= 0 && p <= 100)) throw ValueError("percentiles_of: percent must be in [0, 100], got " + std::to_string(p));
  }
  torch::Tensor v = values.reshape(-1);
  if (!v.is_floating_point()) v = v.to(torch::kFloat64);
  v = v.masked_select(torch::isfinite(v));
  const int64_t n = v.numel();
  if (n == 0) throw ValueError("percentiles_of: no finite value");
  // kthvalue (a selection, O(n)) instead of a full sort: two order statistics per percentile.
  auto order_stat = [&](int64_t rank) {  // 0-based rank in ascending order
    return std::get<0>(torch::kthvalue(v, rank + 1)).item<double>();
  };
  std::vector<double> out;
  out.reserve(percents.size());
  for (double p : percents) {
    // numpy.percentile's default ("linear"): position p/100 * (n - 1), interpolated.
    const double pos = p / 100.0 * static_cast<double>(n - 1);
    const auto below = static_cast<int64_t>(std::floor(pos));
    const double frac = pos - static_cast<double>(below);
    const double lo = order_stat(below);
    out.push_back(frac > 0 && below + 1 < n ? lo + frac * (order_stat(below + 1) - lo) : lo);
  }
  return out;
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
    } else if (o.method == NormalizeMethod::kPercentile) {
      const std::vector<double> q = percentiles_of(values, o.percentiles);
      // Clamping after scaling keeps [0,1] exact whatever float32 makes of q[0] and q[1].
      r = ((ch - q[0]) / std::max(q[1] - q[0], o.eps)).clamp(0.0, 1.0);
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
