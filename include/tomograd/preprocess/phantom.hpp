#pragma once
/// @file A synthetic head CT with a known brain, for tests, benchmarks and demos.
#include <torch/types.h>

#include <cstdint>

#include "tomograd/core/volume.hpp"

namespace tomograd::preprocess {

/// Geometry and content of make_head_phantom(). By default the head is centred in x and z and
/// sits above the table (rows grow toward posterior, LPS). Sizes of the brain scale with the field of
/// view; skull, scalp and CSF thicknesses are in mm.
struct HeadPhantomOptions {
  int64_t depth = 16, rows = 64, cols = 64;
  Vec3 spacing_mm{8.0, 3.6, 3.6};  ///< (z,y,x)
  uint64_t seed = 0;               ///< noise and texture
  double noise_hu = 4.0;           ///< Gaussian noise standard deviation
  double skull_mm = 6.0;
  double scalp_mm = 5.0;
  double csf_rim_mm = 2.0;
  int skull_holes = 3;             ///< soft-tissue-filled holes through the skull (radius 3 mm)
  bool table = true;               ///< a table slab below the head, a foam pad and a head holder arc
  bool hemorrhage = false;         ///< a 70 HU bleed in the left hemisphere
  // Head pose and size (the defaults give the centred, upright head above).
  double head_scale = 1.0;         ///< multiplies the brain's semi-axes (skull, scalp, CSF keep their mm)
  Vec3 head_shift_mm{0.0, 0.0, 0.0};  ///< (z,y,x) move of the head; the table stays under it
  double head_yaw_deg = 0.0;       ///< in-plane rotation of the head about its centre (table, pad, holder stay level)
};

/// A phantom and its ground truth.
struct HeadPhantom {
  Volume ct;                 ///< HU, float32 [D,H,W], modality "CT"
  /// uint8 [D,H,W]: voxels at least half inside the skull's inner surface (brain and CSF) and at
  /// most a quarter bone (partial-volume voxels of a skull cap cut by a thick slice read as bone)
  torch::Tensor brain;
  torch::Tensor head;        ///< uint8 [D,H,W]: scalp outer surface and inside
  /// uint8 [D,H,W]: grey and white matter (inside the CSF rim, outside the ventricles), voxels at
  /// least half covered; includes the bleed when there is one
  torch::Tensor parenchyma;
  torch::Tensor ventricles;  ///< uint8 [D,H,W]: the two lateral ventricles, voxels at least half covered
};

/// Builds the phantom: air -1000, scalp 30, skull 1000, CSF 8, grey matter 40, white matter 28,
/// two ventricles 5, optional bleed 70 HU, table 50, foam pad -850, holder arc 200, plus noise.
/// Thick slices average sub-slices (partial volume, as a scanner does), so a skull cap cut
/// tangentially looks like it does on real CT. Ground truth masks are the voxels at least half
/// covered.
/// Throws ValueError for non-positive sizes or head_scale.
HeadPhantom make_head_phantom(const HeadPhantomOptions& options = {});

}  // namespace tomograd::preprocess
