#pragma once
/// @file Synthetic lumbar spine MRI cohort in the RSNA 2024 Lumbar Spine Degenerative
/// Classification layout (`tomograd synth lumbar`).
///
/// The generative model is documented in docs/synthetic_lumbar.md.
#include <torch/types.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/volume.hpp"
#include "tomograd/tasks/lumbar/vocabulary.hpp"

namespace tomograd::tasks {

/// The three series of a study.
enum class LumbarSeries { kSagittalT1 = 0, kSagittalT2 = 1, kAxialT2 = 2 };

/// SeriesDescription of a series: "Sagittal T1", "Sagittal T2/STIR", "Axial T2".
std::string lumbar_series_description(LumbarSeries series);

/// Per-study parameters of the phantom (drawn from the seed by synthesize_lumbar_cohort()).
struct LumbarPhantomParams {
  int64_t size = 512;                  ///< in-plane rows = cols of every series
  int64_t sagittal_slices = 17;        ///< sagittal slices (L-R), 15-20 in the cohort
  double sagittal_spacing_mm = 3.6;    ///< sagittal slice spacing
  double fov_mm = 300.0;               ///< sagittal in-plane field of view
  double axial_fov_mm = 200.0;         ///< axial in-plane field of view
  double axial_spacing_mm = 4.0;       ///< spacing of the 3 axial slices of a level
  double spine_offset_mm = 0.0;        ///< spine moved toward the patient's right (+) or left (-)
  /// True severities 0/1/2 (Normal/Mild, Moderate, Severe), index lumbar::label_index().
  std::array<int, lumbar::kLabels> severity{};
  /// Per-label jitter in [-1, 1] of the narrowing a severity gives (biological variation).
  std::array<double, lumbar::kLabels> narrowing_jitter{};
  double gain_t1 = 1.0, gain_t2 = 1.0, gain_axial = 1.0;  ///< scanner gain of each series
  uint64_t seed = 0;                   ///< texture, bias fields and noise
};

/// Where one label lives in the images (the row of train_label_coordinates.csv).
struct LumbarLabelPoint {
  int condition = 0;                   ///< index into lumbar::kConditionNames
  int level = 0;                       ///< index into lumbar::kLevelNames
  LumbarSeries series = LumbarSeries::kSagittalT2;
  int64_t slice = 0;                   ///< 0-based slice of the rendered volume (axial: of volume `level`)
  int instance_number = 1;             ///< InstanceNumber and file name number in the written series
  double x = 0, y = 0;                 ///< column and row in pixels of that image
};

/// A rendered study and its ground truth.
struct LumbarPhantom {
  Volume sagittal_t1;                  ///< [D,H,W] float32, orientation PIR (slices left to right)
  Volume sagittal_t2;                  ///< same geometry as sagittal_t1
  /// One 3-slice axial block per disc level (L1/L2 first), orientation LPS (slices feet to head),
  /// centred on the disc; same patient frame as the sagittal volumes.
  std::vector<Volume> axial_t2;
  torch::Tensor sagittal_csf_mask;     ///< [D,H,W] bool: spinal canal CSF in the sagittal grid
  torch::Tensor foramen_fat_mask;      ///< [D,H,W] bool: neural foramen fat in the sagittal grid
  std::vector<torch::Tensor> axial_csf_mask;  ///< per level, [3,H,W] bool: canal CSF
  std::vector<LumbarLabelPoint> points;  ///< all 25 labels, in label order
};

/// Renders the three series of one study: vertebral bodies L1-L5 and S1 with discs, spinal canal
/// (CSF), pedicles and neural foramina (fat and root), posterior elements, paraspinal muscle and
/// subcutaneous fat, with T1 or T2 contrast. Severity narrows the canal at the disc (spinal), the
/// foramen on that side (foraminal) and the lateral recess on that side (subarticular).
/// Intensities are whole numbers in [0, 4000]. Throws ValueError for a size under 16, fewer than
/// 5 sagittal slices, non-positive spacing or field of view, or a severity outside 0..2.
LumbarPhantom render_lumbar_phantom(const LumbarPhantomParams& params);

/// Cohort options of `tomograd synth lumbar`.
struct LumbarSynthOptions {
  std::filesystem::path out;           ///< output folder (created; must be empty unless force)
  int studies = 20;
  /// Extra studies written as the competition's test set: test_images/, test_series_descriptions.csv
  /// and (synthetic only, for scoring) test_solution.csv in train.csv's format; no coordinates.
  int test_studies = 0;
  uint64_t seed = 0;
  double scale = 1.0;                  ///< in-plane size factor: 512² × scale, at least 32²
  double missing_fraction = 0.05;      ///< train.csv cells left empty (label unknown)
  bool force = false;
  int threads = 0;                     ///< studies rendered at once (0 = all cores)
  bool show_progress = true;
};

/// One study of a cohort (one train.csv row).
struct LumbarStudyRow {
  int64_t study_id = 0;                ///< 7-10 digits, unique in the cohort
  /// Series ids (unique in the cohort), index = LumbarSeries.
  std::array<int64_t, 3> series_id{};
  /// Severity per label (index lumbar::label_index()): 0, 1, 2, or -1 when left empty in train.csv.
  std::array<int, lumbar::kLabels> severity{};
  double age_years = 0;                ///< drives degeneration; not written
  int64_t size = 0, sagittal_slices = 0;
};

/// Writes `train_images/<study_id>/<series_id>/<instance_number>.dcm` (MR, int16; Sagittal T1,
/// Sagittal T2/STIR, Axial T2 with 3 slices per disc level), `train_series_descriptions.csv`,
/// `train.csv` and `train_label_coordinates.csv` into options.out (plus the test set of
/// options.test_studies; the returned rows hold the training studies, then the test studies). StudyInstanceUID and
/// SeriesInstanceUID are the study and series ids, as in the RSNA data. Every study depends only
/// on (seed, study index), whatever the thread count. Throws ValueError for bad options and
/// IoError when the folder is not empty (unless force).
std::vector<LumbarStudyRow> synthesize_lumbar_cohort(const LumbarSynthOptions& options);

}  // namespace tomograd::tasks
