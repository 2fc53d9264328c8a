#pragma once
/// @file Synthetic head CT cohort for the brain-metastasis task (`tomograd synth metastasis`).
///
/// The generative model is documented in docs/synthetic_metastasis.md. The head itself is
/// preprocess::make_head_phantom(); this adds pose, beam hardening, noise and the lesions.
#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/volume.hpp"

namespace tomograd::tasks {

/// Appearance of a metastasis on CT.
enum class LesionKind {
  kHyperdense,  ///< solid, uniformly denser than the parenchyma around it
  kRing,        ///< dense rim around a hypodense (necrotic / oedema-like) core
};

/// "hyperdense" or "ring" (the spelling of labels and lesions.csv).
std::string lesion_kind_name(LesionKind kind);

/// One lesion: a sphere in patient coordinates (LPS, the Volume's world frame).
struct MetastasisLesion {
  Vec3 center_lps_mm{0.0, 0.0, 0.0};  ///< (x,y,z) = (L,P,S), as Volume::index_to_lps() gives
  double diameter_mm = 8.0;
  LesionKind kind = LesionKind::kHyperdense;
  double rim_hu = 35.0;         ///< added to the parenchyma: the whole sphere (hyperdense) or its rim (ring)
  double core_hu = -12.0;       ///< ring only: added to the parenchyma in the core (negative: hypodense)
  double rim_mm = 2.0;          ///< ring only: rim thickness
};

/// Per-patient parameters of the phantom (drawn from the seed by synthesize_metastasis_cohort()).
struct MetastasisPhantomParams {
  int64_t size = 512;              ///< in-plane rows = cols
  int64_t slices = 40;             ///< axial slices, inferior to superior
  double fov_mm = 240.0;           ///< in-plane field of view
  double slice_spacing_mm = 4.0;   ///< = slice thickness (contiguous slices)
  double head_scale = 1.0;         ///< head size factor (the cohort draws 0.92–1.08)
  double yaw_deg = 0.0;            ///< in-plane head rotation
  double shift_x_mm = 0.0;         ///< head moved toward the patient's left
  double shift_y_mm = 0.0;         ///< head moved toward posterior
  double noise_hu = 4.0;           ///< Gaussian noise standard deviation
  double cupping_hu = 4.0;         ///< beam hardening: brain centre darker than its edge by this much
  double offset_hu = 0.0;          ///< calibration offset inside the skull
  Vec3 gradient_hu{0.0, 0.0, 0.0};  ///< (x,y,z) smooth linear HU drift inside the skull, edge to edge
  /// Lesions drawn at random valid places (inside the parenchyma, clear of ventricles and skull,
  /// not touching each other), in addition to @ref lesions.
  int random_lesions = 0;
  double lesion_min_mm = 3.0, lesion_max_mm = 15.0;        ///< diameter range of drawn lesions (log-uniform)
  double enhancement_min_hu = 25.0, enhancement_max_hu = 45.0;  ///< rim_hu range of drawn lesions (uniform)
  std::vector<MetastasisLesion> lesions;  ///< lesions rendered where given (no placement check)
  uint64_t seed = 0;               ///< skull holes, lesion draws and noise
};

/// A rendered phantom and its ground truth.
struct MetastasisPhantom {
  Volume volume;                 ///< HU, float32 [D,H,W], whole numbers in [-1024, 3071], axial LPS
  torch::Tensor lesion_mask;     ///< uint8 [D,H,W]: lesion voxels (at least half covered, plus each centre's voxel)
  torch::Tensor brain_mask;      ///< uint8 [D,H,W]: inside the skull (brain and CSF), see make_head_phantom()
  torch::Tensor parenchyma_mask;  ///< uint8 [D,H,W]: grey and white matter, no ventricles, no CSF
  torch::Tensor ventricle_mask;  ///< uint8 [D,H,W]: lateral ventricles
  std::vector<MetastasisLesion> lesions;  ///< every lesion rendered: the given ones, then the drawn ones
};

/// Renders one axial head CT: make_head_phantom() in the given pose, lesions added to the
/// parenchyma with partial volume, beam-hardening cupping and drift inside the skull, noise, then
/// rounding and clipping to what int16 with RescaleIntercept −1024 stores.
/// Throws ValueError for a size under 8, non-positive spacing, field of view, head scale or lesion
/// diameter, and when @ref MetastasisPhantomParams::random_lesions lesions do not fit (a brain too
/// small for its voxels).
MetastasisPhantom render_metastasis_phantom(const MetastasisPhantomParams& params);

/// Cohort options of `tomograd synth metastasis`.
struct MetastasisSynthOptions {
  std::filesystem::path out;    ///< output folder (created; must be empty unless force)
  int patients = 100;
  uint64_t seed = 0;
  double scale = 1.0;           ///< in-plane size factor: 512² × scale, at least 32² (0.125 gives 64²)
  double prevalence = 0.5;      ///< fraction of positives: exactly round(patients × prevalence)
  bool force = false;
  int threads = 0;              ///< patients rendered at once (0 = all cores)
  bool show_progress = true;
  /// Lesion conspicuity: diameter range (mm, log-uniform) and enhancement over the parenchyma (HU).
  /// The defaults are the cohort of docs/synthetic_metastasis.md; larger, brighter lesions make a
  /// cohort on which a tiny model learns in seconds (the learning test uses that).
  double lesion_min_mm = 3.0, lesion_max_mm = 15.0;
  double enhancement_min_hu = 25.0, enhancement_max_hu = 45.0;
};

/// One patient of a cohort.
struct MetastasisCohortRow {
  std::string patient_id;       ///< MET0001, MET0002, ...
  std::string path;             ///< series folder, relative to the cohort folder ("CTs/MET0001")
  int label = 0;                ///< 1: at least one metastasis
  int64_t rows = 0, cols = 0, slices = 0;
  double slice_spacing_mm = 0;
  std::vector<MetastasisLesion> lesions;  ///< empty for negatives
};

/// Writes `CTs/<patient_id>/IM0001.dcm …` (CT, axial, int16, RescaleIntercept −1024, slope 1),
/// `labels.csv` (`patient_id,label`) and `lesions.csv` (one row per lesion) into options.out.
/// Every patient depends only on (seed, patient index) and its label, whatever the thread count.
/// Throws ValueError for bad options and IoError when the folder is not empty (unless force).
std::vector<MetastasisCohortRow> synthesize_metastasis_cohort(const MetastasisSynthOptions& options);

}  // namespace tomograd::tasks
