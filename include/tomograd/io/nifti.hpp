#pragma once
/// @file NIfTI-1 and NIfTI-2 (.nii, .nii.gz) reading and writing.
#include <filesystem>
#include <string>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/volume.hpp"

namespace tomograd::io {

/// True for names ending in ".nii" or ".nii.gz" (case-insensitive).
bool is_nifti_path(const std::filesystem::path& path);

/// Reads a 3D NIfTI-1 or NIfTI-2 image (either byte order, gzip or not) into a Volume in LPS.
/// The sform is used when sform_code > 0, else the qform when qform_code > 0, else pixdim alone
/// along RAS axes (a warning is logged and added to VolumeInfo::warnings). Spacing is the length
/// of each affine column (pixdim itself for the qform), so affine_lps() reproduces the file's.
/// scl_slope/scl_inter are applied when scl_slope is non-zero. Data types: uint8, int8, int16,
/// uint16, int32, uint32, float32, float64. A 4D file with one volume is read as 3D.
/// Throws NiftiError naming the file for anything else.
Volume read_nifti(const std::filesystem::path& path);

/// Stored data type of a written file.
enum class NiftiDataType { kUint8, kInt16, kInt32, kFloat32, kFloat64 };

/// Parses "uint8", "int16", "int32", "float32", "float64". Throws ValueError.
NiftiDataType parse_nifti_datatype(const std::string& name);

struct NiftiWriteOptions {
  int version = 1;                        ///< 1 (NIfTI-1) or 2 (NIfTI-2)
  NiftiDataType datatype = NiftiDataType::kFloat32;
  Overwrite overwrite = Overwrite::kNever;
};

/// Writes @p volume with qform and sform (code 1, scanner) converted from LPS to RAS.
/// Integer types round and clamp values to the type's range (a warning is logged when clamping
/// happened). Compressed when the name ends in ".gz". Atomic. Throws NiftiError / IoError.
void write_nifti(const Volume& volume, const std::filesystem::path& path,
                 const NiftiWriteOptions& options = {});

/// Version of the NIfTI library.
std::string nifti_library_version();

}  // namespace tomograd::io
