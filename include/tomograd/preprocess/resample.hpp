#pragma once
/// @file Spatial resampling: in-plane resizing of slices and volumes, resampling to a spacing.
#include <torch/types.h>

#include <string>

#include "tomograd/core/volume.hpp"

namespace tomograd::preprocess {

/// Interpolation kernels. Use kNearest for masks and label maps: values stay in the input set.
enum class Interpolation { kNearest, kLinear, kCubic, kArea };

/// "nearest", "linear", "cubic", "area"; throws ValueError listing them.
Interpolation parse_interpolation(const std::string& name);
std::string to_string(Interpolation interpolation);

/// Resizes the last two axes of @p x ([H,W], [C,H,W] or [C,D,H,W]; float32 or uint8) to
/// @p height x @p width with OpenCV (pixel centres aligned, as cv::resize). uint8 input with
/// kNearest is the way to resize masks. Throws ValueError for non-positive sizes.
torch::Tensor resize_slices(const torch::Tensor& x, int64_t height, int64_t width,
                            Interpolation interpolation);

/// Resizes every slice of @p volume to @p height x @p width. Spacing changes so the field of view
/// stays the same (new spacing = old * old_size / new_size) and the origin moves to the new
/// first voxel centre.
Volume resize_in_plane(const Volume& volume, int64_t height, int64_t width,
                       Interpolation interpolation = Interpolation::kLinear);

/// Resamples @p volume to @p spacing_mm (z,y,x; a value <= 0 keeps that axis) with trilinear
/// (kLinear) or nearest-neighbour (kNearest) interpolation over the same field of view.
/// Throws ValueError for other kernels.
Volume resample_to_spacing(const Volume& volume, const Vec3& spacing_mm,
                           Interpolation interpolation = Interpolation::kLinear);

}  // namespace tomograd::preprocess
