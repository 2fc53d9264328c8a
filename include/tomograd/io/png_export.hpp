#pragma once
/// @file Slice export to PNG with a display window.
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/volume.hpp"
#include "tomograd/core/window.hpp"

namespace tomograd::io {

struct PngExportOptions {
  Window window;               ///< values at low() map to 0, at high() to the maximum
  int bit_depth = 8;           ///< 8 or 16
  std::string study_id;        ///< file name part; default VolumeInfo::study_uid, else "study"
  std::string series_id;       ///< default VolumeInfo::series_uid, else "series"
  Overwrite overwrite = Overwrite::kNever;
};

/// Maps one slice [H,W] through the window to 8- or 16-bit grey levels, row-major.
std::vector<uint16_t> window_slice(const Volume& volume, int64_t slice, const Window& window,
                                   int bit_depth);

/// Writes every slice as "<study_id>_<series_id>_<instance_number>.png" into @p outdir (created
/// if needed); instance numbers come from VolumeInfo::instance_numbers, else 1-based slice index.
/// Each file is written atomically. Returns the paths. Throws IoError / ValueError.
std::vector<std::filesystem::path> export_png(const Volume& volume,
                                              const std::filesystem::path& outdir,
                                              const PngExportOptions& options);

}  // namespace tomograd::io
