#pragma once
/// @file Format-agnostic loading without LibTorch (DICOM or NIfTI chosen from the path);
/// volume_io.hpp does the same for the LibTorch Volume.
#include <filesystem>
#include <string>

#include "tomograd/core/image.hpp"
#include "tomograd/io/dicom_base.hpp"

namespace tomograd::io {

/// Loads a NIfTI file (".nii", ".nii.gz") or a DICOM file/folder/DICOMDIR (series picked by
/// @p series_selector, see select_series()). Throws IoError and subclasses.
Image load_image(const std::filesystem::path& path, const std::string& series_selector = "",
                 const DicomReadOptions& options = {});

}  // namespace tomograd::io
