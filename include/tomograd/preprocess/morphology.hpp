#pragma once
/// @file Binary morphology on 3D masks with radii in millimetres (anisotropic voxels).
///
/// A mask is a contiguous uint8 tensor [D,H,W] holding 0 or 1 (to_mask() converts bool or float
/// tensors). Structuring elements are ellipsoids in voxel units that are balls in physical space:
/// voxel offset (dz,dy,dx) belongs to the ball of radius r when
/// (dz*sz)^2 + (dy*sy)^2 + (dx*sx)^2 <= r^2 with spacing (sz,sy,sx). Outside the volume nothing
/// constrains: erosion does not eat in from the volume's faces and dilation adds nothing from
/// there (OpenCV's default border values), so a brain cut by the first or last slice survives an
/// opening.
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <vector>

#include "tomograd/core/volume.hpp"

namespace tomograd::preprocess {

/// Converts a bool, integer or float tensor [D,H,W] to a contiguous uint8 mask (value != 0 -> 1).
/// Throws ValueError unless the tensor is 3D.
torch::Tensor to_mask(const torch::Tensor& t);

/// Offsets (dz, dy, dx) of the ball of radius @p radius_mm for @p spacing_mm (z,y,x); always
/// contains (0,0,0). Throws ValueError for a negative radius.
std::vector<std::array<int, 3>> ball_offsets(const Vec3& spacing_mm, double radius_mm);

/// Erosion by a ball of radius @p radius_mm. @return uint8 [D,H,W]
torch::Tensor erode(const torch::Tensor& mask, const Vec3& spacing_mm, double radius_mm);
/// Dilation by a ball of radius @p radius_mm. @return uint8 [D,H,W]
torch::Tensor dilate(const torch::Tensor& mask, const Vec3& spacing_mm, double radius_mm);
/// Opening (erosion then dilation): removes parts thinner than about 2 * radius.
torch::Tensor open(const torch::Tensor& mask, const Vec3& spacing_mm, double radius_mm);
/// Closing (dilation then erosion): bridges gaps narrower than about 2 * radius.
torch::Tensor close(const torch::Tensor& mask, const Vec3& spacing_mm, double radius_mm);

/// Connected components with 6-connectivity (faces only).
struct Components {
  torch::Tensor labels;         ///< int32 [D,H,W]; 0 = background, 1..count() = components
  std::vector<int64_t> sizes;   ///< voxels per label; sizes[0] = 0
  int64_t count() const { return static_cast<int64_t>(sizes.size()) - 1; }
};

/// Labels the 6-connected components of @p mask (per-slice OpenCV labelling joined across
/// slices by union-find). Labels are numbered in order of first appearance (raster order).
Components label_components(const torch::Tensor& mask);

/// The largest 6-connected component of @p mask (all zero when the mask is empty).
torch::Tensor largest_component(const torch::Tensor& mask);

/// Fills holes slice by slice: background pixels not 4-connected to the slice border become 1.
torch::Tensor fill_holes_2d(const torch::Tensor& mask);

/// Geodesic dilation: grows @p marker by one voxel (6-neighbourhood) per step, never leaving
/// @p domain, for @p steps in-plane steps; slices are entered at a rate that keeps the growth
/// roughly isotropic in mm. The result is inside domain (marker voxels outside it are dropped).
torch::Tensor geodesic_dilate(const torch::Tensor& marker, const torch::Tensor& domain,
                              const Vec3& spacing_mm, int steps);

/// Volume of a mask in millilitres (voxel count * voxel volume in mm^3 / 1000).
double mask_volume_ml(const torch::Tensor& mask, const Vec3& spacing_mm);

/// Dice overlap 2|A∩B| / (|A|+|B|) of two masks of the same shape (1 when both are empty).
double dice(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace tomograd::preprocess
