#pragma once
/// @file The training skeleton of the slice-model tasks (bmd, metastasis): a task loads and checks
/// its cohort, then hands the studies and its hooks (samplers, loss, metrics, threshold, the
/// files of a new run) to train_slice_model(), which builds the datasets and the model, writes the
/// run directory (rank 0) and runs the Trainer.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tomograd/preprocess/config.hpp"
#include "tomograd/tasks/common/train_request.hpp"
#include "tomograd/tasks/slice_dataset.hpp"
#include "tomograd/tasks/training_sections.hpp"
#include "tomograd/train/run_dir.hpp"
#include "tomograd/train/trainer.hpp"

namespace tomograd::tasks {

/// The run directory of @p request, checked by every process of a data-parallel job (joined here,
/// on @p options' device or the request's) before any of them writes: refuses a non-empty folder
/// unless resume/force; a resume needs every file of @p resume_needs. Throws IoError.
train::RunDir open_training_run(const TrainRequest& request, const train::TrainOptions& options,
                                const std::vector<std::string>& resume_needs);

/// The training options of @p sections with the request's device (when given).
train::TrainOptions train_options(const TrainingSections& sections, const TrainRequest& request);

/// What a slice-model task hands to train_slice_model().
struct SliceTrainJob {
  const TrainingSections* sections = nullptr;  ///< model, loss, optim, scheduler, curriculum, train
  std::string config_yaml;                     ///< the resolved config (config.yaml, checkpoints)
  const preprocess::PreprocessConfig* prep = nullptr;  ///< slices and augmentation
  std::vector<SliceStudy> train, val;          ///< studies of the training and validation patients
  /// The task's files of a new run (config.yaml, splits.csv, ...): rank 0 only, not on resume.
  std::function<void(const train::RunDir&)> write_run_files;
  /// The sampler of the training set (@p training) or of the validation set.
  std::function<std::unique_ptr<train::Sampler>(const StudySliceDataset& data, bool training)> sampler;
  train::LossFn loss;                          ///< empty: train::make_loss(sections->loss)
  train::MetricsFn metrics;
  train::ThresholdFn threshold;                ///< used when there are validation patients
  std::string summary_suffix;                  ///< appended to the "N training patients ..." log line
  std::string no_val_warning;                  ///< logged when there are no validation patients
  std::vector<std::shared_ptr<train::TrainSink>> sinks;  ///< extra receivers of the trainer's progress
};

/// Builds the datasets (augmentation on the training set only), the model (seeded from
/// train.seed, pretrained weights unless resuming), writes a new run's files on rank 0 and trains.
train::TrainSummary train_slice_model(const TrainRequest& request, const train::RunDir& run, SliceTrainJob job);

}  // namespace tomograd::tasks
