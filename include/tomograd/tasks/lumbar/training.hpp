#pragma once
/// @file Lumbar training: the level localizer and the sagittal, axial, combined and 3D classifiers
/// (25 labels x 3 grades) by cross-validation fold. See docs/lumbar.md.
///
/// Run directory:
///   RUN/config.yaml, RUN/folds.csv (study_id,fold), RUN/input_preview.png (the first study's input),
///   RUN/localizer/ (level localizer: checkpoints/, history.csv, offsets.json, error.json, error.csv),
///   RUN/inputs/ (each study's model inputs, reused by the run's later folds),
///   RUN/fold_<K>/ (classifier of fold K: checkpoints/, history.csv, oof.csv),
///   RUN/eval/ (lumbar evaluate).
#include <torch/types.h>

#include <filesystem>
#include <vector>

#include "tomograd/models/model.hpp"
#include "tomograd/tasks/common/train_request.hpp"
#include "tomograd/tasks/lumbar/config.hpp"
#include "tomograd/train/dataset.hpp"

namespace tomograd::tasks::lumbar {


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


/// `lumbar train`: the localizer (once per run) and the classifier of each fold in @p folds
/// (empty = all), with out-of-fold predictions in RUN/fold_<K>/oof.csv, into @p request.out on
/// @p request.device ("" = the config's train.device; the device is not part of the run's
/// config.yaml, so a run may be filled on several machines). A run directory is filled fold by fold
/// with the same configuration (whether or not @p request.resume is set: a trained fold is refused
/// unless @p request.force, and a fold's training is not resumed from its last.pt). With
/// @p localizer_from (another run on the same studies), its localizer and folds.csv are copied
/// instead of training a localizer, so several models share one localizer and one split. Returns
/// the mean out-of-fold score.
double train(const LumbarConfig& config, const TrainRequest& request, const std::vector<int>& folds = {},
             const std::filesystem::path& localizer_from = {});

}  // namespace tomograd::tasks::lumbar
