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

/// Where an aspect-preserving resize puts the image in its @p height x @p width output.
struct KeepAspectLayout {
  double scale = 1.0;                  ///< min(height / rows, width / cols): one factor for both axes
  int64_t rows = 0, cols = 0;          ///< size of the scaled image before padding
  int64_t pad_top = 0, pad_left = 0;   ///< rows above / columns left of it (the extra one goes below/right)
};

/// The layout of a @p rows x @p cols image scaled by one factor to fit inside @p height x
/// @p width: the limiting side becomes exactly its target, the other round(size * scale)
/// (at least 1), and the padding is floor((target - scaled) / 2) before it, the rest after.
/// E.g. 20x40 -> 32x32: scale 0.8, 16x32, pad_top 8 (8 below), pad_left 0. Throws ValueError
/// for non-positive sizes.
KeepAspectLayout keep_aspect_layout(int64_t rows, int64_t cols, int64_t height, int64_t width);

/// Aspect-preserving resize of the last two axes of @p x ([H,W], [C,H,W] or [C,D,H,W]; float32
/// or uint8): resize_slices() to keep_aspect_layout()'s scaled size, then symmetric padding with
/// @p fill to exactly @p height x @p width. Same dtype rules as resize_slices (uint8 + kNearest
/// for masks). Throws ValueError for non-positive sizes.
torch::Tensor resize_slices_keep_aspect(const torch::Tensor& x, int64_t height, int64_t width,
                                        Interpolation interpolation, double fill = 0.0);

/// resize_slices_keep_aspect() of every slice of @p volume (padding 0). Spacing of the scaled
/// image is old * old_size / scaled_size per axis (the same factor for rows and columns, up to
/// the rounding of the scaled size); the origin is the scaled image's first voxel centre moved
/// by -pad_top * row spacing along the row direction and -pad_left * column spacing along the
/// column direction, so every voxel of the image keeps its LPS position.
Volume resize_in_plane_keep_aspect(const Volume& volume, int64_t height, int64_t width,
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

/// Crop (or zero pad) of every slice of @p volume to rows [top, top + height) and columns
/// [left, left + width) (crop_slices with fill 0). Spacing is unchanged; the origin moves to
/// index_to_lps(0, top, left), so every kept voxel keeps its LPS position.
Volume crop_in_plane(const Volume& volume, int64_t top, int64_t left, int64_t height, int64_t width);

/// Where the crop window of preprocess_volume() is placed.
enum class CropMode {
  kCenter,  ///< centred on the image (center_crop_offsets)
  kMask,    ///< centred on the brain mask's bounding box (mask_crop_offsets)
};

/// "center", "mask"; throws ValueError listing them.
CropMode parse_crop_mode(const std::string& name);
std::string to_string(CropMode mode);

/// (top, left) of a @p height x @p width window centred on the bounding box of the nonzero
/// voxels of @p mask ([H,W] or [D,H,W], any dtype; the box is the union over all slices).
/// Per axis: top = floor((first + last - (height - 1)) / 2), i.e. the window's centre on the
/// box's centre, rounded down like center_crop_offsets; then clamped to [0, rows - height] so the
/// window stays inside the image. An axis where the window is larger than the image gets the
/// centre offset (negative: it pads), as center_crop_offsets. A mask covering the whole image
/// gives center_crop_offsets; an empty mask falls back to it too (with a warning in the log).
/// E.g. rows 10, box rows 8-9, height 6: floor((17 - 5) / 2) = 6, clamped to 10 - 6 = 4 -> rows 4-9.
/// Throws ValueError for non-positive sizes or fewer than 2 dimensions.
std::pair<int64_t, int64_t> mask_crop_offsets(const torch::Tensor& mask, int64_t height, int64_t width);

/// Resamples @p volume to @p spacing_mm (z,y,x; a value <= 0 keeps that axis) with trilinear
/// (kLinear) or nearest-neighbour (kNearest) interpolation over the same field of view.
/// Throws ValueError for other kernels.
Volume resample_to_spacing(const Volume& volume, const Vec3& spacing_mm,
                           Interpolation interpolation = Interpolation::kLinear);

}  // namespace tomograd::preprocess
