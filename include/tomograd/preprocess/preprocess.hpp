#pragma once
/// @file The deterministic preprocessing of one study (what the cache stores).
///
/// Steps, in order: reorient -> resample to a spacing (optional) -> brain extraction (head CT)
/// -> slice quality -> windows (one channel each; "raw" keeps the values) -> voxels outside the
/// brain set to 0 -> in-plane resize (optionally aspect-preserving with padding) -> crop
/// (optional; centred on the image or on the brain mask) -> normalization per channel.
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <string>
#include <vector>

#include "tomograd/core/volume.hpp"
#include "tomograd/preprocess/brain_extraction.hpp"
#include "tomograd/preprocess/intensity.hpp"
#include "tomograd/preprocess/quality.hpp"
#include "tomograd/preprocess/resample.hpp"

namespace tomograd::preprocess {

/// The window name that means "no windowing": the channel holds the physical values unchanged
/// (MR has no HU windows; combine with a normalization such as kPercentile).
inline constexpr const char* kRawWindow = "raw";

/// The `preprocess` section of a config.
struct PreprocessOptions {
  std::string reorient = "canonical";   ///< "canonical", "none" or a code such as "LPS"
  Vec3 spacing_mm{0.0, 0.0, 0.0};       ///< resample to (z,y,x) mm first; 0 keeps an axis
  bool brain_extraction = true;         ///< run brain extraction (head CT in HU)
  BrainExtractionOptions brain;         ///< its parameters
  bool mask_outside = true;             ///< windowed voxels outside the brain become 0
  std::vector<std::string> windows{"brain", "subdural", "bone"};  ///< presets, "C,W" or "raw"
  int64_t height = 256, width = 256;    ///< in-plane size after resizing; 0 keeps the size
  Interpolation interpolation = Interpolation::kLinear;
  /// Resize by one factor for rows and columns so the image fits inside height x width
  /// (keep_aspect_layout), then pad symmetrically with 0 (data and mask) to exactly that size.
  /// No effect without a resize (height 0).
  bool keep_aspect = false;
  /// Crop after resizing, before normalization (0 and 0 = off). A side larger than the
  /// image pads with 0 (windowed/raw units, i.e. below the window; outside the mask).
  int64_t crop_height = 0, crop_width = 0;
  /// Where the crop window sits: the image centre, or the centre of the brain mask's bounding
  /// box (kMask needs brain extraction; clamped inside the image).
  CropMode crop_mode = CropMode::kCenter;
  NormalizeOptions normalize;           ///< per channel, statistics inside the brain
  SliceQualityOptions quality;

  /// Throws ConfigError for bad windows, sizes, codes or sub-options.
  void validate() const;
  /// Canonical JSON of every field (stable key order): the cache key hashes its text. Keys added
  /// after the first release (crop, crop.mode, resize.keep_aspect, normalize.percentiles) are
  /// written only when they change the output, so caches built before them keep their keys.
  nlohmann::json to_json() const;
};

/// The preprocessed study.
struct PreprocessedStudy {
  torch::Tensor data;                 ///< [C,D,H,W] float32, one channel per window (H,W after crop)
  torch::Tensor mask;                 ///< uint8 [D,H,W] brain mask (nearest-resized); undefined without brain extraction
  Vec3 spacing_mm{1, 1, 1};           ///< (z,y,x) after resampling/resizing
  Vec3 origin_lps{0, 0, 0};           ///< LPS of data's voxel [0,0,0] (after resizing and cropping)
  Mat3 direction = identity_direction();
  std::vector<std::string> channels;  ///< the window of each channel
  double brain_volume_ml = 0.0;
  SliceQualityReport quality;         ///< in slice indices of data
};

/// Runs the steps on @p volume (HU for CT). Throws ValueError / ConfigError with the step name.
PreprocessedStudy preprocess_volume(const Volume& volume, const PreprocessOptions& options);

}  // namespace tomograd::preprocess
