#pragma once
/// @file Intensity transforms: windowing to [0,1] and per-channel normalization.
#include <torch/types.h>

#include <string>
#include <vector>

#include "tomograd/core/window.hpp"

namespace tomograd::preprocess {

/// Maps physical values through @p window: (v - low) / width, clipped to [0,1]; NaN -> 0.
/// E.g. brain 40/80: -10 HU -> 0, 0 HU -> 0, 40 HU -> 0.5, 60 HU -> 0.75, 100 HU -> 1.
/// @param values any shape, float32; @return float32, same shape. Throws ValueError for a
/// non-positive width.
torch::Tensor apply_window(const torch::Tensor& values, const Window& window);

/// One channel per window: [S...] -> [C,S...] (e.g. [D,H,W] -> [C,D,H,W]).
torch::Tensor apply_windows(const torch::Tensor& values, const std::vector<Window>& windows);

/// How normalize() scales each channel.
enum class NormalizeMethod {
  kNone,    ///< unchanged
  kZScore,  ///< (x - mean) / std, statistics over the mask (or everything)
  kMinMax,  ///< (x - min) / (max - min) to [0,1]
  kFixed,   ///< (x - mean) / std with the given mean and std (e.g. ImageNet's)
};

/// "none", "zscore", "minmax", "fixed"; throws ValueError listing them.
NormalizeMethod parse_normalize_method(const std::string& name);
std::string to_string(NormalizeMethod method);

/// Options of normalize().
struct NormalizeOptions {
  NormalizeMethod method = NormalizeMethod::kZScore;
  bool within_mask = true;     ///< statistics over mask voxels only, when a mask is given
  double outside_value = 0.0;  ///< value written outside the mask after normalizing (within_mask)
  std::vector<double> mean{0.0};  ///< kFixed: one value, or one per channel
  std::vector<double> std{1.0};   ///< kFixed: one value, or one per channel
  double eps = 1e-6;           ///< floor for std and max - min

  /// Throws ConfigError for stds <= 0, eps <= 0 or empty mean/std.
  void validate() const;
};

/// Normalizes each channel of @p x ([C,S...], float32) independently. @p mask (optional) is
/// [S...] (same for every channel); its nonzero voxels define the statistics when
/// options.within_mask. The standard deviation is the population one (divide by N).
/// E.g. zscore of {1,2,3,4}: mean 2.5, std sqrt(1.25) -> {-1.342, -0.447, 0.447, 1.342}.
/// Throws ValueError on shape mismatches or an empty mask.
torch::Tensor normalize(const torch::Tensor& x, const NormalizeOptions& options,
                        const torch::Tensor& mask = {});

}  // namespace tomograd::preprocess
