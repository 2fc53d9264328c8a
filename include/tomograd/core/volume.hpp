#pragma once
/// @file Volume: a 3D image in physical units with its geometry in patient LPS coordinates.
#include <torch/types.h>

#include "tomograd/core/volume_info.hpp"

#include <array>
#include <optional>
#include <string>
#include <vector>

namespace tomograd {

/// Float32 voxels shaped [D,H,W] (slices, rows, cols) with spacing (z,y,x) in mm, the LPS
/// position of voxel [0,0,0] and the direction cosines of the three index axes.
///
/// direction()[r][c] is component r (L,P,S) of the unit vector along index axis c, where c = 0 is
/// the column index (x, W), c = 1 the row index (y, H) and c = 2 the slice index (z, D): the same
/// convention as ITK's direction matrix. Values are physical: HU for CT, rescaled values for MR.
class Volume {
 public:
  Volume() = default;
  /// @param data [D,H,W]; converted to contiguous float32. Throws ValueError on a bad shape or a
  ///             non-positive spacing.
  Volume(torch::Tensor data, Vec3 spacing_mm_zyx, Vec3 origin_lps = {0, 0, 0},
         Mat3 direction = identity_direction(), VolumeInfo info = {});

  const torch::Tensor& data() const { return data_; }
  /// Replaces the voxels; the shape may change only if @p allow_reshape.
  void set_data(torch::Tensor data, bool allow_reshape = false);

  int64_t depth() const { return data_.defined() ? data_.size(0) : 0; }
  int64_t rows() const { return data_.defined() ? data_.size(1) : 0; }
  int64_t cols() const { return data_.defined() ? data_.size(2) : 0; }
  bool empty() const { return !data_.defined() || data_.numel() == 0; }

  const Vec3& spacing_mm() const { return spacing_mm_; }  ///< (z,y,x)
  const Vec3& origin_lps() const { return origin_lps_; }
  const Mat3& direction() const { return direction_; }
  const VolumeInfo& info() const { return info_; }
  VolumeInfo& info() { return info_; }

  void set_spacing_mm(const Vec3& spacing_zyx);
  void set_origin_lps(const Vec3& origin) { origin_lps_ = origin; }
  void set_direction(const Mat3& direction);

  /// LPS position in mm of the voxel centre at index (k=slice, j=row, i=col).
  Vec3 index_to_lps(double k, double j, double i) const;

  /// 4×4 index-to-LPS affine for index order (i, j, k), row-major.
  std::array<std::array<double, 4>, 4> affine_lps() const;

  /// Three-letter orientation code: the anatomical direction each index axis (i, j, k) points
  /// to, e.g. "LPS" for an axial stack from feet to head with rows toward posterior.
  std::string orientation_code() const;

 private:
  torch::Tensor data_;
  Vec3 spacing_mm_{1, 1, 1};
  Vec3 origin_lps_{0, 0, 0};
  Mat3 direction_ = identity_direction();
  VolumeInfo info_;
};

/// Returns @p volume with its voxels permuted and flipped so that index axes (i, j, k) point to
/// @p code (three letters, one of L/R, P/A, S/I each, e.g. "LPS", "PIL"). Geometry (origin,
/// spacing, direction) is updated so every voxel keeps its physical position. Throws ValueError
/// on an invalid code.
Volume reorient(const Volume& volume, const std::string& code);

/// The display convention for the volume's acquisition plane, keeping the plane (all right-handed,
/// as DICOM is): axial "LPS",
/// sagittal "PIR", coronal "LIP". Use with reorient() so models always see the same anatomy
/// orientation whatever the scanner's storage order.
std::string canonical_orientation(const Volume& volume);

}  // namespace tomograd
