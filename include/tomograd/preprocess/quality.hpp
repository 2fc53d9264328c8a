#pragma once
/// @file Slice quality for head CT: which slices carry enough brain and contrast to train on.
///
/// Per slice: brain area (and its fraction of the largest slice's brain area), contrast (standard
/// deviation of HU inside the brain, clipped to the brain window 0-80 HU) and a left-right
/// asymmetry score: the brain-windowed slice, smoothed, mirrored about the brain mask's centroid
/// column (the mid-sagittal line of an axial slice in canonical orientation), mean absolute
/// difference over brain pixels whose mirror is brain too, in window units (0-1). Slices are
/// kept when they have enough area and contrast, and always when their asymmetry is high (a
/// unilateral bleed or mass is exactly what must not be dropped).
#include <nlohmann/json.hpp>
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "tomograd/core/volume.hpp"

namespace tomograd::preprocess {

struct SliceQualityOptions {
  bool enabled = true;
  double min_brain_fraction = 0.15;  ///< of the largest slice's brain area
  double min_contrast_hu = 2.0;      ///< standard deviation inside the brain
  double asymmetry_keep = 0.05;      ///< slices at or above this are always kept
  double smooth_mm = 2.0;            ///< Gaussian sigma before the asymmetry comparison
  /// Throws ConfigError naming the field.
  void validate() const;
};

/// Measures of one slice.
struct SliceQuality {
  int64_t index = 0;
  double brain_area_mm2 = 0.0;
  double brain_fraction = 0.0;  ///< of the largest slice's brain area
  double contrast_hu = 0.0;
  double asymmetry = 0.0;
  bool kept = false;
  std::string reason;           ///< why it was dropped, or "asymmetric" when kept for that only
};

/// Result of assess_slice_quality().
struct SliceQualityReport {
  std::vector<SliceQuality> slices;
  std::vector<int64_t> kept;                               ///< ascending
  std::vector<std::pair<int64_t, std::string>> dropped;    ///< (index, reason)
  /// "kept 30 of 40 slices (2 kept for asymmetry); dropped: 6 little brain, 4 low contrast".
  std::string summary() const;
  nlohmann::json to_json() const;
  static SliceQualityReport from_json(const nlohmann::json& j);
};

/// Assesses every slice of @p ct (HU, [D,H,W]) with its brain mask (uint8 [D,H,W]) and logs the
/// summary at info level. With options.enabled false every slice is kept. Throws ValueError on
/// a shape mismatch.
SliceQualityReport assess_slice_quality(const Volume& ct, const torch::Tensor& brain_mask,
                                        const SliceQualityOptions& options = {});

}  // namespace tomograd::preprocess
