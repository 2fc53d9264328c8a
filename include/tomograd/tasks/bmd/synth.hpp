#pragma once
/// @file Synthetic lumbar MRI cohort for the BMD task (the embedded default of `bmd` and the demo).
///
/// The generative model is documented in docs/synthetic_bmd.md.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/volume.hpp"

namespace tomograd::tasks {

/// Per-patient parameters of the phantom (drawn from the seed).
struct BmdPhantomParams {
  double bmd_g_cm2 = 1.0;       ///< DXA spine BMD, the regression target
  int64_t size = 512;           ///< in-plane rows = cols
  int64_t slices = 20;          ///< sagittal slices (L-R)
  double fov_mm = 300.0;        ///< in-plane field of view
  double slice_spacing_mm = 4.4;
  double gain = 1.0;            ///< scanner gain (multiplies everything)
  double marrow_offset = 0.0;   ///< biological variation of marrow signal not explained by BMD
  uint64_t seed = 0;            ///< texture, bias field and noise
};

/// A rendered phantom and the masks of its tissues (for tests).
struct BmdPhantom {
  Volume volume;                ///< MR T1 values (arbitrary units, about 0..2000)
  torch::Tensor marrow_mask;    ///< [D,H,W] bool: vertebral body marrow
  torch::Tensor muscle_mask;    ///< [D,H,W] bool: paraspinal muscle
};

/// Renders one sagittal lumbar T1 volume: five vertebral bodies (L1-L5) with discs, spinal
/// canal (CSF), paraspinal muscle, subcutaneous fat and abdomen. Lower BMD gives brighter
/// (fattier) marrow and coarser trabecular texture; gain, a smooth bias field and noise confound
/// raw intensities.
BmdPhantom render_bmd_phantom(const BmdPhantomParams& params);

/// Cohort options of `tomograd synth bmd`.
struct BmdSynthOptions {
  std::filesystem::path out;    ///< output folder (created; must be empty unless force)
  int patients = 60;
  uint64_t seed = 0;
  double scale = 1.0;           ///< in-plane size factor for CPU demos (0.125 gives 64² / 128²)
  bool force = false;
  int threads = 0;
  bool show_progress = true;
};

/// One manifest row.
struct BmdCohortRow {
  std::string patient_id;
  std::string path;             ///< relative to the cohort folder
  double bmd_g_cm2;
  int64_t rows, cols, slices;
};

/// Writes `images/<patient_id>/IM*.dcm` (MR, sagittal, int16) and `manifest.csv`
/// (`patient_id,path,bmd`) into options.out. BMD ~ N(1.0, 0.15) clipped to [0.6, 1.4]; in-plane
/// size 512² for 85 % of patients and 1024² for 15 % (times scale), 15–26 slices.
std::vector<BmdCohortRow> synthesize_bmd_cohort(const BmdSynthOptions& options);

}  // namespace tomograd::tasks
