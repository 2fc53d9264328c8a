#pragma once
/// @file Slice export to PNG with a display window, without LibTorch (tomograd::io_base);
/// png_export.hpp adds the same for the LibTorch Volume.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/image.hpp"
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
std::vector<uint16_t> window_slice(const ImageView& image, int64_t slice, const Window& window, int bit_depth);

/// Writes every slice as "<study_id>_<series_id>_<instance_number>.png" into @p outdir (created
/// if needed); instance numbers come from VolumeInfo::instance_numbers, else 1-based slice index.
/// Each file is written atomically. Returns the paths. Throws IoError / ValueError.
std::vector<std::filesystem::path> export_png(const ImageView& image, const std::filesystem::path& outdir,
                                              const PngExportOptions& options);

/// The window `export-png --window auto` uses: the image's own (its first WindowCenter/Width)
/// when it has one with a positive width, else the range from the 0.5th to the 99.5th percentile
/// of its voxels (percentiles as torch::quantile and numpy compute them: linear interpolation
/// between the closest ranks; NaN when a voxel is NaN), widened to 1 when it is empty.
Window auto_window(const ImageView& image);

/// The @p q quantile (0..1) of @p values with linear interpolation between the closest ranks
/// (numpy's and torch::quantile's default), NaN when a value is NaN. Reorders @p values.
/// Throws ValueError when @p values is empty or @p q is outside [0, 1].
double quantile_linear(std::vector<float>& values, double q);

}  // namespace tomograd::io
