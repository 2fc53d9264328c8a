#pragma once
/// @file Spatial resampling: in-plane resizing of slices and volumes, resampling to a spacing.
#include <torch/types.h>

#include <string>
#include <utility>

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

/// Cuts rows [top, top + height) and columns [left, left + width) out of the last two axes of
/// @p x ([H,W], [C,H,W] or [C,D,H,W]; any dtype). Parts of that window outside the image
/// (negative top/left, or past the last row/column) are filled with @p fill, so the same call
/// crops and pads. @return [..., height, width], same dtype. Throws ValueError for non-positive
/// sizes or fewer than 2 dimensions.
torch::Tensor crop_slices(const torch::Tensor& x, int64_t top, int64_t left, int64_t height, int64_t width,
                          double fill = 0.0);

/// (top, left) of a centred @p height x @p width window in a @p rows x @p cols image:
/// floor((rows - height) / 2) and floor((cols - width) / 2); negative when the window is larger
/// than the image (it pads). E.g. 7 rows -> 4: top 1 (rows 1-4); 5 rows -> 8: top -2.
std::pair<int64_t, int64_t> center_crop_offsets(int64_t rows, int64_t cols, int64_t height, int64_t width);

/// Centre crop (or zero pad) of every slice of @p volume to @p height x @p width
/// (center_crop_offsets, crop_slices with fill 0). Spacing is unchanged; the origin moves to the
/// new first voxel, top * row spacing along the row direction and left * column spacing along
/// the column direction, so every kept voxel keeps its LPS position.
Volume crop_in_plane(const Volume& volume, int64_t height, int64_t width);

/// Resamples @p volume to @p spacing_mm (z,y,x; a value <= 0 keeps that axis) with trilinear
/// (kLinear) or nearest-neighbour (kNearest) interpolation over the same field of view.
/// Throws ValueError for other kernels.
Volume resample_to_spacing(const Volume& volume, const Vec3& spacing_mm,
                           Interpolation interpolation = Interpolation::kLinear);

}  // namespace tomograd::preprocess
