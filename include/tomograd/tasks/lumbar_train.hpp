#pragma once
/// @file Lumbar models: series geometry in patient space, level localization, the sagittal,
/// axial, combined and 3D classifiers (25 labels x 3 grades), cross-validated training and
/// inference to a competition submission. See docs/lumbar.md.
///
/// Run directory:
///   RUN/config.yaml, RUN/folds.csv (study_id,fold), RUN/input_preview.png (the first study's input),
///   RUN/localizer/ (level localizer: checkpoints/, history.csv, offsets.json, error.json, error.csv),
///   RUN/inputs/ (each study's model inputs, reused by the run's later folds),
///   RUN/fold_<K>/ (classifier of fold K: checkpoints/, history.csv, oof.csv),
///   RUN/eval/ (lumbar evaluate).
#include <torch/types.h>

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tomograd/core/volume.hpp"
#include "tomograd/models/model.hpp"
#include "tomograd/tasks/lumbar.hpp"
#include "tomograd/tasks/training_sections.hpp"

namespace tomograd::tasks::lumbar {

// ---- Geometry -------------------------------------------------------------------------------

/// One series with the patient-space (LPS, mm) position of each slice, so that points and crops
/// carry across series of a study (sagittal label -> axial slice) whatever their storage order.
struct SeriesImage {
  std::string series_id, description;
  torch::Tensor data;               ///< [D,H,W] float32, the series' 1st..99th percentile mapped to 0..1
  std::vector<Vec3> positions;      ///< LPS of pixel (row 0, col 0) of each slice, in volume order
  std::vector<int> instance_numbers;///< per slice
  Vec3 col_dir{1, 0, 0};            ///< unit vector along increasing column index
  Vec3 row_dir{0, 1, 0};            ///< unit vector along increasing row index
  Vec3 normal{0, 0, 1};             ///< col_dir x row_dir
  double col_spacing = 1, row_spacing = 1;  ///< mm per column / row
  double slice_spacing = 1;         ///< median distance between neighbouring slices
  double slice_thickness = 0;       ///< SliceThickness (0 when absent)

  int64_t depth() const { return data.size(0); }
  /// The 0-based slice of an InstanceNumber, -1 when none has it.
  int slice_of_instance(int instance_number) const;
  /// LPS of pixel (x = column, y = row) of @p slice.
  Vec3 pixel_to_lps(int slice, double x, double y) const;
  /// The nearest slice to @p p, the pixel (x, y) of p's projection on it, and p's distance to it.
  struct Pixel {
    int slice = 0;
    double x = 0, y = 0, distance_mm = 0;
  };
  Pixel lps_to_pixel(const Vec3& p) const;
};

/// Reads one series folder (DICOM), sorting slices along the normal. Throws IoError/DicomError.
SeriesImage load_series_image(const std::filesystem::path& dir, const std::string& series_id = "",
                              const std::string& description = "");

/// The series' axes in display order for @p plane ("sagittal": depth toward the patient's right,
/// rows head to feet, columns front to back; "axial": depth feet to head, rows front to back,
/// columns right to left as radiologists view them): the in-plane axes of the series itself, with
/// the signs flipped and rows/columns swapped as needed (orientation correction).
std::array<Vec3, 3> display_axes(const SeriesImage& series, const std::string& plane);

/// Samples @p series on a box of shape (D, H, W) centred on @p centre, along @p axes (depth, row,
/// column unit vectors) with @p step_mm between samples: bilinear in-plane on the slice nearest
/// each point, 0 where a point is outside the image or farther than half a slice from any slice.
torch::Tensor sample_box(const SeriesImage& series, const Vec3& centre, const std::array<Vec3, 3>& axes,
                         const std::array<int64_t, 3>& shape, const std::array<double, 3>& step_mm);

// ---- Configuration --------------------------------------------------------------------------

/// The `input` section: what a classifier sees (configs/lumbar_*.yaml document every key).
struct InputOptions {
  std::string kind = "sagittal";   ///< sagittal | axial | combined | volume
  double crop_mm = 64;             ///< side of the square 2.5D crops around each level, mm
  int64_t crop_px = 32;            ///< their side in pixels
  int64_t context = 1;             ///< 2.5D: neighbouring slices on each side of the centre slice
  double jitter_mm = 4;            ///< training: random shift of every crop, mm
  double rotate_deg = 10;          ///< training: random in-plane rotation of the crops, degrees
  /// Training: share of samples cropped at the localizer's points instead of the labelled ones
  /// (validation, out-of-fold predictions and inference always use the localizer's points).
  double predicted_points = 0.5;
  std::vector<int64_t> volume_shape{16, 48, 48};   ///< volume: samples (L-R, S-I, A-P)
  std::vector<double> volume_spacing_mm{4, 3, 3};  ///< volume: mm between samples
  bool metadata = true;            ///< volume: fuse slice thickness and pixel spacing of T1 and T2
  double gain = 0.15;              ///< training: log-normal intensity gain (sigma), per series
  double noise = 0.02;             ///< training: Gaussian noise (sigma, on the 0..1 scale)
  /// 2.5D kinds: the five levels go through the backbone as five images (shared weights, a head
  /// of 5 conditions x 3 grades, the level fused as a one-hot metadata vector) instead of one
  /// image with every level's crops as channels.
  bool shared_levels = true;
  /// Input channels of the study: sagittal 5 levels x 3 x (2 context + 1) (T2 at the canal, T1 at
  /// the left and right foramen), axial 5 x (2 context + 1), combined 5 x 4 x (2 context + 1)
  /// (level-major: each level's crops are contiguous), volume 2 (T1, T2).
  int64_t channels() const;
  /// Channels the model's first convolution takes: channels() / 5 with shared levels.
  int64_t model_channels() const;
  /// Outputs per image of the model's multi-output head: 5 (conditions) with shared levels, else 25.
  int64_t model_tasks() const;
  /// Length of the metadata vector: 5 (level one-hot) with shared levels, 4 for volume with
  /// metadata, else 0.
  int64_t metadata_dim() const;
};

/// The `data` section.
struct DataOptions {
  std::string dir;                 ///< dataset folder (train.csv, train_images/, ...)
  int folds = 5;                   ///< stratified group K-fold by study
  uint64_t fold_seed = 42;
  int batch_size = 8;
  int threads = 0;                 ///< study loading threads (0 = all cores)
};

/// The `localizer` section: the level localizer trained with every run.
struct LocalizerOptions {
  models::ModelSpec model;         ///< regression, 11 outputs (x, y of 5 levels + midline offset)
  int64_t size = 64;               ///< sagittal slices resampled to size x size over the field of view
  int epochs = 20;
  double lr = 1e-3;
  int batch_size = 16;
};

/// A lumbar run's configuration.
struct LumbarConfig : TrainingSections {  // model, loss, optim, scheduler, curriculum, train
  DataOptions data;
  InputOptions input;
  LocalizerOptions localizer;
  double consistency = 0.0;  ///< weight of the adjacent-level consistency term (0 = off)
  std::string yaml;          ///< resolved configuration
};

/// Loads @p path with "a.b=value" @p overrides. Checks that model.in_channels and
/// model.head.metadata_dim match the input and that the head is multioutput 25 x 3. Throws
/// ConfigError naming the key.
LumbarConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides = {});

// ---- Folds ----------------------------------------------------------------------------------

/// Stratified group K-fold: each study (the group) goes to one fold; studies are stratified by
/// their worst spinal canal grade (missing = normal) and dealt round-robin after a seeded shuffle.
/// Returns the fold of each entry of @p labels. Throws ValueError when folds < 2 or > studies.
std::vector<int> assign_folds(const std::vector<StudyLabels>& labels, int folds, uint64_t seed);

// ---- Points and the localizer ---------------------------------------------------------------

/// The three series of a study (the first of each description; absent ones are empty).
struct StudyImages {
  std::string study_id;
  std::optional<SeriesImage> t1, t2, axial;
};

/// Loads a study's series listed in @p dataset. Throws IoError naming the series on failure.
StudyImages load_study(const LumbarDataset& dataset, const std::string& study_id);

/// The 25 label points of a study in patient space (index condition * 5 + level); empty = unknown.
using LevelPoints = std::array<std::optional<Vec3>, 25>;

/// The labelled points of @p study from the dataset's coordinates (on the study's loaded series).
LevelPoints labelled_points(const LumbarDataset& dataset, const StudyImages& study);

// ---- Model and loss pieces ------------------------------------------------------------------

/// The classifier on a batch of studies: [N, 25, 3] logits (condition-major: index condition * 5
/// + level). With shared levels (in.model_tasks() == 5) the five levels' channel blocks of @p x
/// go through the backbone as five images, each with its level as a one-hot metadata vector;
/// otherwise @p meta (volume: slice thickness and pixel spacing, or undefined) is fused by the
/// model's head.
torch::Tensor run_model(models::Model& model, const torch::Tensor& x, const torch::Tensor& meta,
                        const InputOptions& in);

/// The adjacent-level consistency term (config key `consistency`): with p = softmax(outputs)
/// over the 3 grades and e = p_moderate + 2 p_severe the expected grade of each of the 25 cells
/// (outputs [N, 25, 3], or anything that reshapes to [N, 5 conditions, 5 levels, 3]), the mean of
/// (e[condition, level + 1] - e[condition, level])² over N x 5 conditions x 4 level pairs.
/// Differentiable; the batch is not used.
torch::Tensor adjacent_level_consistency(const torch::Tensor& outputs, const train::Batch& batch);

// ---- Commands -------------------------------------------------------------------------------

/// `lumbar train`: the localizer (once per run) and the classifier of each fold in @p folds
/// (empty = all), with out-of-fold predictions in RUN/fold_<K>/oof.csv. A run directory may be
/// filled fold by fold with the same configuration. With @p localizer_from (another run on the
/// same studies), its localizer and folds.csv are copied instead of training a localizer, so
/// several models share one localizer and one split. Returns the mean out-of-fold score.
double train(const LumbarConfig& config, const std::filesystem::path& out, const std::vector<int>& folds, bool force,
             const std::filesystem::path& localizer_from = {});

/// `lumbar infer`: predicted points, then every fold's classifier averaged, for each study of
/// @p split of @p data. Writes the submission (row_id,normal_mild,moderate,severe; 25 rows per
/// study) and, when not empty, the predicted points as @p coordinates
/// (study_id,series_id,instance_number,condition,level,x,y). Returns the number of studies.
std::size_t infer(const std::filesystem::path& run, const std::filesystem::path& data, const std::string& split,
                  const std::filesystem::path& submission, const std::filesystem::path& coordinates = {},
                  bool force = false);

}  // namespace tomograd::tasks::lumbar
