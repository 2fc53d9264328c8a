#pragma once
/// @file NIfTI-1 and NIfTI-2 (.nii, .nii.gz) reading and writing without LibTorch
/// (tomograd::io_base); nifti.hpp adds the same for the LibTorch Volume.
#include <cstdint>
#include <filesystem>
#include <string>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/image.hpp"

namespace tomograd::io {

/// True for names ending in ".nii" or ".nii.gz" (case-insensitive).
bool is_nifti_path(const std::filesystem::path& path);

/// Reads a 3D NIfTI-1 or NIfTI-2 image (either byte order, gzip or not) into an Image in LPS.
/// The sform is used when sform_code > 0, else the qform when qform_code > 0, else pixdim alone
/// along RAS axes (a warning is logged and added to VolumeInfo::warnings). Spacing is the length
/// of each affine column (pixdim itself for the qform), so ImageGeometry::affine_lps() reproduces the file's.
/// scl_slope/scl_inter are applied when scl_slope is non-zero. Data types: uint8, int8, int16,
/// uint16, int32, uint32, float32, float64. A 4D file with one volume is read as 3D.
/// Throws NiftiError naming the file for anything else.
Image read_nifti_image(const std::filesystem::path& path);

/// Stored data type of a written file. kAuto picks the smallest lossless one (see write_nifti()).
enum class NiftiDataType { kUint8, kInt16, kUint16, kInt32, kFloat32, kFloat64, kAuto };

/// Parses "uint8", "int16", "uint16", "int32", "float32", "float64", "auto". Throws ValueError.
NiftiDataType parse_nifti_datatype(const std::string& name);

/// Name of a data type as parse_nifti_datatype() reads it.
std::string nifti_datatype_name(NiftiDataType type);

struct NiftiWriteOptions {
  int version = 1;                        ///< 1 (NIfTI-1) or 2 (NIfTI-2)
  NiftiDataType datatype = NiftiDataType::kFloat32;
  Overwrite overwrite = Overwrite::kNever;
  int gzip_level = 1;                     ///< zlib level 0..9 for ".gz" names (1: fastest; see docs/formats.md)
  int threads = 0;                        ///< conversion and compression threads; 0 = all cores
};

/// What write_nifti() stored.
struct NiftiWriteResult {
  NiftiDataType datatype = NiftiDataType::kFloat32;  ///< never kAuto
  double scl_slope = 1.0, scl_inter = 0.0;           ///< value = scl_slope * stored + scl_inter
  std::uint64_t bytes = 0;                            ///< size of the file written
};

/// Writes @p image with qform and sform (code 1, scanner) converted from LPS to RAS.
/// Integer types round and clamp values to the type's range (a warning is logged when clamping
/// happened) and store them with scl_slope 1, scl_inter 0.
/// kAuto stores the voxels losslessly in the fewest bytes, as dcm2niix does with DICOM: when every
/// value is an integer, as uint8, int16 or uint16 (the smallest that holds the range); else, when
/// every value is scl_slope * x + scl_inter for integers x with the image's DICOM rescale
/// (VolumeInfo::rescale_slope/intercept, e.g. an MR series with slope 2.5), those x as uint8,
/// int16 or uint16 with that scaling; else float32. Reading the file back (read_nifti(), nibabel)
/// gives the same float32 values bit for bit.
/// Compressed when the name ends in ".gz": one gzip member compressed on options.threads threads
/// (see gzip.hpp). Atomic. Throws NiftiError / IoError / ValueError (bad options).
NiftiWriteResult write_nifti(const ImageView& image, const std::filesystem::path& path,
                             const NiftiWriteOptions& options = {});

/// Version of the NIfTI library.
std::string nifti_library_version();

}  // namespace tomograd::io
