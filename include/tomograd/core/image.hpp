#pragma once
/// @file Image: a volume's float32 voxels in a plain shared buffer, with its geometry and
/// VolumeInfo, for code that must not load LibTorch (the readers and writers of io_base and the
/// light `tomograd` front end that runs info, convert and export-png with them). The LibTorch
/// Volume wraps an Image's buffer without copying it (volume_image.hpp). Also the geometry every
/// volume type shares: index to LPS, the affine, orientation codes and the reorientation plan.
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "tomograd/core/volume_info.hpp"

namespace tomograd {

/// Sizes of a volume's voxel array: [D,H,W] (slices, rows, cols).
using Shape3 = std::array<int64_t, 3>;

/// Throws ValueError unless every spacing is positive and finite.
void validate_spacing(const Vec3& spacing_mm);
/// Throws ValueError unless every column of @p direction is a unit vector (within 1e-3).
void validate_direction(const Mat3& direction);

/// Where the voxels of a [D,H,W] array sit in patient LPS space, with Volume's conventions:
/// direction[r][c] is component r (L,P,S) of index axis c, c = 0 the column index (i, W), 1 the
/// row index (j, H), 2 the slice index (k, D).
struct ImageGeometry {
  Vec3 spacing_mm{1, 1, 1};  ///< (z,y,x)
  Vec3 origin_lps{0, 0, 0};  ///< centre of voxel [0,0,0]
  Mat3 direction = identity_direction();

  /// LPS position in mm of the voxel centre at index (k=slice, j=row, i=col).
  Vec3 index_to_lps(double k, double j, double i) const;
  /// 4×4 index-to-LPS affine for index order (i, j, k), row-major.
  std::array<std::array<double, 4>, 4> affine_lps() const;
};

/// How to reorient a [D,H,W] array so that its index axes point to an orientation code: new
/// index axis c (0 = i, 1 = j, 2 = k) is old index axis source_axis[c], reversed when flip[c].
struct ReorientPlan {
  std::array<int, 3> source_axis{0, 1, 2};
  std::array<bool, 3> flip{false, false, false};
  Shape3 shape{0, 0, 0};   ///< [D,H,W] after
  ImageGeometry geometry;  ///< after; every voxel keeps its LPS position
  /// True when the voxels stay where they are (no permutation, no flip).
  bool identity() const;
};

/// The plan that makes index axes (i, j, k) of a volume with @p geometry and @p shape point to
/// @p code (three letters, one of L/R, P/A and S/I each, case-insensitive: "LPS", "PIL").
/// Throws ValueError on an invalid code or when two index axes point along one anatomical axis.
ReorientPlan plan_reorient(const ImageGeometry& geometry, const Shape3& shape, const std::string& code);

/// The display orientation for a volume's acquisition plane (from the slice axis of
/// @p direction): axial "LPS", sagittal "PIR", coronal "LIP" (all right-handed, as DICOM is).
std::string canonical_orientation(const Mat3& direction);

/// A read-only look at [D,H,W] contiguous float32 voxels that another object owns (an Image, or a
/// Volume's tensor through view_of() in volume_image.hpp), with their geometry and info: what the
/// writers take. Valid while the owner lives.
class ImageView {
 public:
  ImageView(const float* data, const Shape3& shape, const ImageGeometry& geometry, const VolumeInfo& info)
      : data_(data), shape_(shape), geometry_(geometry), info_(&info) {}

  const float* data() const { return data_; }
  const Shape3& shape() const { return shape_; }
  int64_t depth() const { return shape_[0]; }
  int64_t rows() const { return shape_[1]; }
  int64_t cols() const { return shape_[2]; }
  int64_t numel() const { return shape_[0] * shape_[1] * shape_[2]; }
  bool empty() const { return data_ == nullptr || numel() == 0; }
  const ImageGeometry& geometry() const { return geometry_; }
  const VolumeInfo& info() const { return *info_; }

 private:
  const float* data_;
  Shape3 shape_;
  ImageGeometry geometry_;
  const VolumeInfo* info_;
};

/// Float32 voxels [D,H,W] in a shared buffer (copies of an Image share it, as tensors do), with
/// geometry and VolumeInfo. Values are physical: HU for CT, rescaled values for MR.
class Image {
 public:
  Image() = default;
  /// Uninitialised voxels for @p shape (advised for transparent huge pages when large, which
  /// halves the time to fill a fresh buffer). Throws ValueError on a negative size or invalid
  /// geometry, std::bad_alloc when the memory is not there.
  explicit Image(const Shape3& shape, ImageGeometry geometry = {}, VolumeInfo info = {});
  /// Voxels in @p voxels (at least D*H*W contiguous floats), shared, not copied.
  Image(std::shared_ptr<float> voxels, const Shape3& shape, ImageGeometry geometry, VolumeInfo info = {});

  float* data() { return voxels_.get(); }
  const float* data() const { return voxels_.get(); }
  /// The buffer itself, for wrappers that keep it alive (to_volume() in volume_image.hpp).
  const std::shared_ptr<float>& buffer() const { return voxels_; }

  const Shape3& shape() const { return shape_; }
  int64_t depth() const { return shape_[0]; }
  int64_t rows() const { return shape_[1]; }
  int64_t cols() const { return shape_[2]; }
  int64_t numel() const { return shape_[0] * shape_[1] * shape_[2]; }
  bool empty() const { return !voxels_ || numel() == 0; }

  const ImageGeometry& geometry() const { return geometry_; }
  /// Replaces the geometry; throws ValueError (see ImageGeometry's checks) and keeps the old one.
  void set_geometry(const ImageGeometry& geometry);
  const VolumeInfo& info() const { return info_; }
  VolumeInfo& info() { return info_; }

  ImageView view() const { return ImageView(voxels_.get(), shape_, geometry_, info_); }

 private:
  std::shared_ptr<float> voxels_;
  Shape3 shape_{0, 0, 0};
  ImageGeometry geometry_;
  VolumeInfo info_;
};

/// @p image with its voxels permuted and flipped as plan_reorient() says (a new buffer, or the
/// same one when nothing moves). Throws ValueError like plan_reorient().
Image reorient(const Image& image, const std::string& code);

}  // namespace tomograd
