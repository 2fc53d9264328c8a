#pragma once
/// @file Format-agnostic volume loading (DICOM or NIfTI chosen from the path) into a LibTorch
/// Volume: load_image() of volume_io_base.hpp, wrapped without a copy.
#include <filesystem>
#include <string>

#include "tomograd/core/volume.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/volume_io_base.hpp"

namespace tomograd::io {

/// Loads a NIfTI file (".nii", ".nii.gz") or a DICOM file/folder/DICOMDIR (series picked by
/// @p series_selector, see select_series()). Throws IoError and subclasses.
Volume load_volume(const std::filesystem::path& path, const std::string& series_selector = "",
                   const DicomReadOptions& options = {});

}  // namespace tomograd::io
