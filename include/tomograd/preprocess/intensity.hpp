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
  kNone,        ///< unchanged
  kZScore,      ///< (x - mean) / std, statistics over the mask (or everything)
  kMinMax,      ///< (x - min) / (max - min) to [0,1]
  kFixed,       ///< (x - mean) / std with the given mean and std (e.g. ImageNet's)
  kPercentile,  ///< robust min-max: clip to the [low, high] percentiles, then scale to [0,1]
};

/// "none", "zscore", "minmax", "fixed", "percentile"; throws ValueError listing them.
NormalizeMethod parse_normalize_method(const std::string& name);
std::string to_string(NormalizeMethod method);

/// Options of normalize().
struct NormalizeOptions {
  NormalizeMethod method = NormalizeMethod::kZScore;
  bool within_mask = true;     ///< statistics over mask voxels only, when a mask is given
  double outside_value = 0.0;  ///< value written outside the mask after normalizing (within_mask)
  std::vector<double> mean{0.0};  ///< kFixed: one value, or one per channel
  std::vector<double> std{1.0};   ///< kFixed: one value, or one per channel
  double eps = 1e-6;           ///< floor for std, max - min and high - low percentile
  /// kPercentile: the [low, high] percentiles (0-100) each channel is clipped to before scaling
  /// to [0,1]; 0.5-99.5 is the usual robust normalization of MR intensities.
  std::vector<double> percentiles{0.5, 99.5};

  /// Throws ConfigError for stds <= 0, eps <= 0, empty mean/std, or percentiles that are not two
  /// values with 0 <= low < high <= 100.
  void validate() const;
};

/// The @p percents (each in [0, 100]) of the finite values of @p values (any shape, any
/// floating or integer dtype) with linear interpolation between order statistics, as
/// numpy.percentile's default: position p/100 * (n - 1) in the sorted values. Exact (no
/// subsampling); O(n) per percentile (torch::kthvalue). E.g. {1, 2, 3, 4} at 50 -> 2.5, at
/// 10 -> 1.3. Throws ValueError when no value is finite or a percent is outside [0, 100].
std::vector<double> percentiles_of(const torch::Tensor& values, const std::vector<double>& percents);

/// Normalizes each channel of @p x ([C,S...], float32) independently. @p mask (optional) is
/// [S...] (same for every channel); its nonzero voxels define the statistics when
/// options.within_mask. The standard deviation is the population one (divide by N).
/// E.g. zscore of {1,2,3,4}: mean 2.5, std sqrt(1.25) -> {-1.342, -0.447, 0.447, 1.342}.
/// kPercentile: clamp((x - lo) / max(hi - lo, eps), 0, 1), lo and hi being percentiles_of()
/// the channel's finite values (inside the mask when within_mask): the result is in [0,1].
/// Throws ValueError on shape mismatches or an empty mask.
torch::Tensor normalize(const torch::Tensor& x, const NormalizeOptions& options,
                        const torch::Tensor& mask = {});

}  // namespace tomograd::preprocess
