#pragma once
/// @file A lumbar run's configuration (configs/lumbar_*.yaml document every key) and its
/// cross-validation folds.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/models/model.hpp"
#include "tomograd/tasks/lumbar/labels.hpp"
#include "tomograd/tasks/training_sections.hpp"

namespace tomograd::tasks::lumbar {


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
  /// Training: probability of a left-right mirror of the study: the image flipped across the
  /// patient's midsagittal plane and the left/right condition labels swapped (mirror_input() and mirror_grades() in augment.hpp).
  double flip_lr = 0.0;
  double elastic_p = 0.0;          ///< training: probability of an elastic deformation of the input
  double elastic_alpha_px = 4;     ///< its largest displacement, pixels (voxels for volume) of the model input
  double elastic_sigma_px = 6;     ///< its smoothness: Gaussian sigma of the random field, pixels (voxels)
  double rotate3d_deg = 0.0;       ///< volume, training: random rotation about each of the 3 axes, degrees
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


/// Stratified group K-fold: each study (the group) goes to one fold; studies are stratified by
/// their worst spinal canal grade (missing = normal) and dealt round-robin after a seeded shuffle.
/// Returns the fold of each entry of @p labels. Throws ValueError when folds < 2 or > studies.
std::vector<int> assign_folds(const std::vector<StudyLabels>& labels, int folds, uint64_t seed);

}  // namespace tomograd::tasks::lumbar
