#pragma once
/// @file Preview images: raw vs preprocessed slices and augmented samples with difference maps.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/volume.hpp"
#include "tomograd/core/window.hpp"
#include "tomograd/preprocess/config.hpp"

namespace tomograd::preprocess {

struct PreviewOptions {
  std::vector<int64_t> slices;   ///< slice indices of the preprocessed study; empty = 3 spread over the kept slices
  uint64_t seed = 0;             ///< augmentation seed (sample k of slice s uses sample_rng(seed, s * 1000 + k))
  std::string label = "*";       ///< which class policy to show
  int samples = 3;               ///< augmented samples per slice
  Window raw_window{40, 80};     ///< display window of the raw column
  int tile_px = 192;             ///< size of each tile
  Overwrite overwrite = Overwrite::kNever;
};

/// What write_preview() drew.
struct PreviewSummary {
  std::vector<int64_t> slices;
  int samples = 0;               ///< augmented samples per slice (0 when no policy applies)
  int width = 0, height = 0;     ///< PNG size in pixels
};

/// Preprocesses @p raw with @p config.preprocess and writes a PNG grid to @p out (atomically):
/// one row per slice with the raw slice (windowed), the preprocessed slice (first channel), and
/// for each sample the augmented slice and a heat map (cv::applyColorMap) of its absolute
/// difference from the preprocessed one. The augmentation is the policy for options.label with
/// its probability ignored. Throws ValueError for slice indices out of range and for a label no
/// policy applies to (listing the labels), IoError when @p out exists and overwriting is off.
PreviewSummary write_preview(const Volume& raw, const PreprocessConfig& config, const PreviewOptions& options,
                             const std::filesystem::path& out);

}  // namespace tomograd::preprocess
