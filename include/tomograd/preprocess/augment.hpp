#pragma once
/// @file Augmentation operations on slice tensors [C,H,W] and volumes [C,D,H,W] (float32) with
/// explicit parameters.
///
/// Each function is deterministic given its arguments; the random ones take the generator
/// explicitly (no global RNG), so loader threads can augment concurrently and one seed gives one
/// output. Intensity operations are scale-free: they work relative to each channel's own
/// [min, max], so they behave the same on windowed [0,1] data and on z-scored data.
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <random>

#include "tomograd/preprocess/resample.hpp"

namespace tomograd::preprocess {

/// A closed interval a parameter is drawn from (uniformly). low == high is a fixed value.
struct Range {
  double low = 0.0;
  double high = 0.0;
  /// Draws one value (consumes one draw from @p rng even when low == high, so the draw count
  /// does not depend on the ranges).
  double sample(std::mt19937_64& rng) const;
};

/// The generator for sample @p index of a run seeded with @p seed: independent per sample and
/// reproducible whatever thread or order processes it (derive_seed()).
std::mt19937_64 sample_rng(uint64_t seed, uint64_t index);

/// Mirrors the columns (left-right). [C,H,W] -> [C,H,W]
torch::Tensor flip_horizontal(const torch::Tensor& image);

/// An affine map about the image centre.
struct AffineParams {
  double rotate_deg = 0.0;     ///< counter-clockwise in the displayed image
  double scale = 1.0;          ///< > 1 zooms in
  double translate_x_px = 0.0; ///< + moves content right
  double translate_y_px = 0.0; ///< + moves content down
};

/// Warps every channel with @p params (cv::warpAffine); pixels from outside are set to each
/// channel's minimum. With kNearest a mask keeps its values.
torch::Tensor affine_warp(const torch::Tensor& image, const AffineParams& params,
                          Interpolation interpolation = Interpolation::kLinear);

/// Gamma per channel within [min, max]: lo + (hi-lo) * ((x-lo)/(hi-lo))^gamma.
torch::Tensor adjust_gamma(const torch::Tensor& image, double gamma);

/// (x - mean) * contrast + mean + brightness * (max - min), per channel.
torch::Tensor adjust_brightness_contrast(const torch::Tensor& image, double brightness, double contrast);

/// Adds N(0, (std_fraction * (max - min))^2) noise per channel, drawn from @p rng in raster order.
/// Takes [C,H,W] or [C,D,H,W].
torch::Tensor add_gaussian_noise(const torch::Tensor& image, double std_fraction, std::mt19937_64& rng);

/// Gaussian blur with @p sigma_px (cv::GaussianBlur, reflected borders). sigma 0 = copy.
torch::Tensor gaussian_blur(const torch::Tensor& image, double sigma_px);

/// Unsharp masking: x + amount * (x - blur(x, sigma_px)).
torch::Tensor sharpen(const torch::Tensor& image, double amount, double sigma_px);

/// CLAHE (contrast-limited adaptive histogram equalization) per channel on 16-bit levels
/// spanning the channel's [min, max], mapped back to that range. A cv::CLAHE is created per
/// call (they are not thread-safe to share).
torch::Tensor clahe(const torch::Tensor& image, double clip_limit, int tiles);

/// A smooth random displacement field for elastic deformation (Simard et al. 2003): uniform
/// noise in [-1,1] per pixel, Gaussian-smoothed with @p sigma_px, scaled so its largest
/// displacement is @p alpha_px. @return [2,H,W] float32 (dx, dy) in pixels.
torch::Tensor elastic_field(int64_t height, int64_t width, double alpha_px, double sigma_px, std::mt19937_64& rng);

/// Resamples every channel at (x + dx, y + dy) (cv::remap), outside pixels = channel minimum.
torch::Tensor displace(const torch::Tensor& image, const torch::Tensor& field,
                       Interpolation interpolation = Interpolation::kLinear);

// ---- Volumes [C,D,H,W] ------------------------------------------------------------------------
// The 3D operations work in voxel units (an anisotropic volume is rotated and deformed on its voxel
// grid) and sample with torch's grid_sample: kLinear is trilinear, kNearest keeps a mask's values
// (kCubic and kArea are refused). Voxels that come from outside are set to each channel's minimum.

/// A smooth random 3D displacement field (the 3D form of elastic_field()): uniform noise in
/// [-1,1] per voxel and component, Gaussian-smoothed along every axis with @p sigma_vox
/// (replicated borders), scaled so its largest displacement is @p alpha_vox.
/// @return [3,D,H,W] float32 (dz, dy, dx) in voxels. Throws ValueError for empty sizes or sigma <= 0.
torch::Tensor elastic_field_3d(int64_t depth, int64_t height, int64_t width, double alpha_vox, double sigma_vox,
                               std::mt19937_64& rng);

/// Resamples every channel of @p volume at (z + dz, y + dy, x + dx). @p field [3,D,H,W] matches
/// the volume. Throws ValueError on a shape mismatch.
torch::Tensor displace_volume(const torch::Tensor& volume, const torch::Tensor& field,
                              Interpolation interpolation = Interpolation::kLinear);

/// Rotates @p volume about its centre by @p angles_deg about the D, H and W axes (applied in that
/// order; positive = counter-clockwise looking down the axis toward its origin).
torch::Tensor rotate_volume(const torch::Tensor& volume, const std::array<double, 3>& angles_deg,
                            Interpolation interpolation = Interpolation::kLinear);

}  // namespace tomograd::preprocess
