#pragma once
// Private: how write_nifti() encodes float32 voxels (the stored type and scaling, kAuto's
// lossless choice, rounding and clamping), shared by nifti_write.cpp and nifti_encode.cpp.
#include <atomic>
#include <cstdint>

#include "tomograd/core/image.hpp"
#include "tomograd/io/nifti_base.hpp"

namespace tomograd::io::detail {

// How the voxels go to disk: the type, the scaling, and whether values are rounded and clamped
// (explicit integer types) or known to fit exactly (kAuto's choice).
struct Encoding {
  NiftiDataType type = NiftiDataType::kFloat32;
  double slope = 1.0, inter = 0.0;  // as the header stores them
  bool identity = true;
};

/// The NIfTI datatype code (DT_*) of an explicit type. Throws ValueError for kAuto.
int nifti_datatype_code(NiftiDataType t);
/// Bytes per stored voxel.
int64_t datatype_bytes(NiftiDataType t);
/// The explicit type of options.datatype, or for kAuto the smallest lossless one (see write_nifti()).
Encoding choose_encoding(const ImageView& image, const float* src, int64_t n, const NiftiWriteOptions& options);

// Encodes voxels [first, first + count) into @p dst (count * bytes of the type).
class VoxelEncoder {
 public:
  VoxelEncoder(const float* src, Encoding e, bool exact) : src_(src), e_(e), exact_(exact) {}
  void encode(int64_t first, int64_t count, std::uint8_t* dst);
  int64_t clamped() const { return clamped_; }
  int64_t nans() const { return nans_; }

 private:
  template <typename T>
  void put(const float* s, std::uint8_t* dst, int64_t count);

  const float* src_;
  Encoding e_;
  bool exact_;
  std::atomic<int64_t> clamped_{0}, nans_{0};
};

}  // namespace tomograd::io::detail
