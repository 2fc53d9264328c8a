#pragma once
/// @file Brain extraction (skull stripping) for head CT in Hounsfield units.
///
/// Thresholds and morphology with radii in mm, so the same options work for 0.4 mm and 5 mm
/// voxels:
///  1. head = largest 6-connected component of HU > head_threshold_hu after an opening of
///     head_opening_mm (detaches the CT table and head holder), holes filled slice by slice;
///  2. bone = HU > bone_threshold_hu; candidate = head AND brain_low_hu <= HU <= brain_high_hu
///     AND NOT (bone dilated by bone_dilation_mm), which cuts the partial-volume rim between
///     skull and scalp;
///  3. opening of the candidate by opening_radius_mm cuts the thin bridges through skull
///     foramina, the orbits and skull holes; the largest component of what is left is the brain
///     core;
///  4. geodesic dilation of the core back into (candidate without the bone dilation) restores
///     what the opening and the bone dilation shaved off, growing at most
///     opening_radius_mm + bone_dilation_mm, so it cannot run far out through a foramen;
///  5. closing by closing_radius_mm, removal of bone, holes filled slice by slice (ventricles
///     with calcified choroid plexus, small bleeds), then an optional dilation by margin_mm.
#include <torch/types.h>

#include "tomograd/core/volume.hpp"

namespace tomograd::preprocess {

/// Options of extract_brain(); every threshold in HU, every radius in mm.
struct BrainExtractionOptions {
  double head_threshold_hu = -300.0;  ///< air / head boundary (fat is about -100)
  double head_opening_mm = 4.0;       ///< detaches the table and head holder from the head (0: off)
  double brain_low_hu = -20.0;        ///< lowest brain/CSF value (CSF ~0-15, fat below -50)
  double brain_high_hu = 100.0;       ///< highest brain value (fresh blood ~50-90, bone above)
  double bone_threshold_hu = 300.0;   ///< skull
  double bone_dilation_mm = 1.5;      ///< removed around bone before the opening
  double opening_radius_mm = 4.0;     ///< cuts bridges thinner than ~2x this
  double closing_radius_mm = 2.0;     ///< smooths the final surface (0: off)
  double margin_mm = 0.0;             ///< final dilation (0: off)
  double min_volume_ml = 10.0;        ///< less than this is reported as a failure

  /// Throws ConfigError naming the first out-of-range field.
  void validate() const;
};

/// Result of extract_brain().
struct BrainMask {
  torch::Tensor mask;         ///< uint8 [D,H,W], 1 inside the brain
  torch::Tensor head;         ///< uint8 [D,H,W], the head (step 1)
  double volume_ml = 0.0;     ///< brain volume
  double head_volume_ml = 0.0;
};

/// Extracts the brain from a head CT (values in HU). Throws ValueError for an empty volume and
/// when the brain found is smaller than options.min_volume_ml (the message says which step
/// left too little, e.g. "no voxel in [-20, 100] HU inside the head": not a CT in HU?).
BrainMask extract_brain(const Volume& ct, const BrainExtractionOptions& options = {});

/// Step 1 alone: the head without air, table and head holder. @return uint8 [D,H,W]
torch::Tensor head_mask(const Volume& ct, const BrainExtractionOptions& options = {});

/// Returns @p volume with every voxel outside @p mask set to @p fill_value.
Volume apply_mask(const Volume& volume, const torch::Tensor& mask, float fill_value);

}  // namespace tomograd::preprocess
