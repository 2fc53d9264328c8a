#pragma once
// Internals of the lumbar pipeline shared by localizer.cpp, inputs.cpp, training.cpp and
// inference.cpp: not installed.
#include <torch/types.h>

#include <array>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tomograd/models/model.hpp"
#include "tomograd/tasks/lumbar/config.hpp"
#include "tomograd/tasks/lumbar/geometry.hpp"
#include "tomograd/train/dataset.hpp"

namespace tomograd::tasks::lumbar::internal {

// ---- Runs and studies (inputs.cpp) -------------------------------------------------------------

/// checkpoints/best.pt of a training folder (RUN/localizer, RUN/fold_<K>), or last.pt when the
/// monitored metric was never defined (e.g. a validation fold without labels).
std::filesystem::path best_checkpoint(const std::filesystem::path& dir);

/// A model of @p spec (registry), with its pretrained weights only when @p pretrained.
models::ModelPtr make_model(const models::ModelSpec& spec, bool pretrained);

/// Loads the studies of @p ids in parallel (progress bar), calling @p fn(index, study); the
/// problems of every study are collected and thrown together (nothing is written then).
void for_each_study(const LumbarDataset& ds, const std::vector<std::string>& ids, int threads, const std::string& what,
                    const std::function<void(std::size_t, const StudyImages&)>& fn);

/// The mean of the labelled (or predicted) spinal canal points, the midline of the lumbar levels;
/// empty when there is none.
std::optional<Vec3> spinal_centre(const LevelPoints& pts);

// ---- The level localizer (localizer.cpp) -------------------------------------------------------

/// Every slice of a sagittal series as a 2.5D stack over the whole field of view, in display axes.
struct LocalizerView {
  torch::Tensor x;            ///< [D,3,S,S]
  std::vector<Vec3> centres;  ///< centre of each slice
  std::array<Vec3, 3> axes;
  double extent = 1, depth_extent = 1;
};

/// Mean displacement of each label point from the spinal canal point of its level.
using Offsets = std::array<Vec3, 25>;

/// The localizer of a run: model, label offsets and device.
struct Localizer {
  models::ModelPtr model;
  Offsets offsets{};
  int64_t size = 64;
  torch::Device device{torch::kCPU};

  /// All 25 points: the labelled ones where given, the rest predicted (spinal canal points from
  /// the model, the others at the mean offset from their level's spinal point).
  LevelPoints points(const StudyImages& st, const LevelPoints& labelled = {}) const;
  /// The same from a study's localizer view (already sampled).
  LevelPoints points(const LocalizerView& view, const LevelPoints& labelled = {}) const;
};

/// The trained localizer of @p run on the config's device. Throws IoError when there is none.
Localizer load_localizer(const std::filesystem::path& run, const LumbarConfig& config);

/// Trains the localizer on the studies outside fold 0 into RUN/localizer/ and reports its error
/// on fold 0 (error.csv, error.json).
void train_localizer(const LumbarConfig& config, const LumbarDataset& ds, const std::vector<std::string>& ids,
                     const std::vector<int>& fold, const std::filesystem::path& out);

// ---- Classifier inputs (inputs.cpp) ------------------------------------------------------------

/// The classifier input of a study with crops @p margin pixels wider on each side than the model
/// sees (room for the training shift): [C, P, P] (2.5D) or [2, D, P1, P2] (volume).
torch::Tensor build_input(const StudyImages& st, const LevelPoints& pts, const InputOptions& in, int64_t margin);

/// Volume inputs with metadata: slice thickness and pixel spacing of T1 and T2 (cm); else undefined.
torch::Tensor metadata_of(const StudyImages& st, const InputOptions& in);

/// The margin in pixels around the crops, room for the training shift (jitter_mm).
int64_t margin_px(const InputOptions& in);

/// A PNG of one study's classifier input (the crop the model sees, without the margin): one row
/// per 2.5D crop (its 2 context + 1 slices side by side), or per volume channel (every depth).
std::string input_preview_png(const torch::Tensor& input, const InputOptions& in, int64_t margin);

/// One study's classifier input (with margin) and labels.
struct Item {
  std::string study_id;
  torch::Tensor input;     ///< crops at the localizer's points (what inference sees)
  torch::Tensor labelled;  ///< training: crops at the labelled points (the localizer's where unlabelled)
  torch::Tensor meta;
  std::array<int, 25> grades{};
};

/// Classifier samples: a random shift inside the margin and the configured augmentations while
/// training; the centre otherwise.
class ItemDataset : public train::Dataset {
 public:
  ItemDataset(std::vector<const Item*> items, InputOptions in, bool augment);
  std::size_t size() const override { return items_.size(); }
  std::string patient_of(std::size_t i) const override { return items_.at(i)->study_id; }
  train::Sample get(std::size_t i, uint64_t seed) const override;

 private:
  std::vector<const Item*> items_;
  InputOptions in_;
  bool augment_;
  int64_t margin_;
};

/// Reads @p item's inputs (labelled, input, meta) from its cache file @p file (RUN/inputs/<id>.pt,
/// written by the training run). False when there is none, and when it is not a complete cache
/// file (truncated, foreign, or a zip directory declaring more than the file holds): then with a
/// one-line warning naming the file and what is wrong, and the caller rebuilds it.
bool read_cached_input(const std::filesystem::path& file, Item& item);

/// Softmax probabilities [N, 25, 3] of @p model for @p items (centre crops, batches of 16).
torch::Tensor predict_items(models::Model& model, const std::vector<const Item*>& items, const InputOptions& in,
                            const torch::Device& device);

}  // namespace tomograd::tasks::lumbar::internal
