#pragma once
/// @file NIfTI-1 and NIfTI-2 (.nii, .nii.gz) for LibTorch Volumes: nifti_base.hpp (no LibTorch)
/// plus its reader and writer for Volume; the Volume read_nifti() returns views the voxels
/// read_nifti_image() read, without a copy.
#include <filesystem>

#include "tomograd/core/volume.hpp"
#include "tomograd/io/nifti_base.hpp"

namespace tomograd::io {

/// read_nifti_image() as a Volume (see there for what is read and what throws).
Volume read_nifti(const std::filesystem::path& path);

/// write_nifti() of nifti_base.hpp for a Volume's voxels, geometry and VolumeInfo.
NiftiWriteResult write_nifti(const Volume& volume, const std::filesystem::path& path,
                             const NiftiWriteOptions& options = {});

}  // namespace tomograd::io
