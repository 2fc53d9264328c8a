#pragma once
/// @file DICOM series as LibTorch Volumes: dicom_base.hpp (scan, selection, geometry, options;
/// no LibTorch) plus its reader and writer for Volume. The Volume a reader returns views the
/// voxels read_dicom_image() decoded, without a copy.
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/volume.hpp"
#include "tomograd/io/dicom_base.hpp"

namespace tomograd::io {

/// read_dicom_image() as a Volume (see there for what is decoded and what throws).
Volume read_dicom_series(const DicomSeries& series, const DicomReadOptions& options = {});

/// scan_dicom() + select_series() + read_dicom_series().
Volume read_dicom(const std::filesystem::path& input, const std::string& selector = "",
                  const DicomReadOptions& options = {});

/// write_dicom_series() of dicom_base.hpp for a Volume's voxels, geometry and VolumeInfo.
std::vector<std::filesystem::path> write_dicom_series(const Volume& volume,
                                                      const std::filesystem::path& dir,
                                                      const DicomWriteOptions& options = {});

}  // namespace tomograd::io
