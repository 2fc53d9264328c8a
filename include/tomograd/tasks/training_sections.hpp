#pragma once
/// @file The config sections every task's training shares: model, loss, optim, scheduler,
/// curriculum and train. Task configs (BmdConfig, MetastasisConfig, ...) derive from it.
#include <vector>

#include "tomograd/core/config.hpp"
#include "tomograd/models/model_spec.hpp"
#include "tomograd/train/curriculum.hpp"
#include "tomograd/train/loss.hpp"
#include "tomograd/train/optim.hpp"
#include "tomograd/train/trainer.hpp"

namespace tomograd::tasks {

/// The training sections of a task config.
struct TrainingSections {
  models::ModelSpec model;
  train::LossOptions loss;
  train::OptimOptions optim;
  train::SchedulerOptions scheduler;
  std::vector<train::CurriculumStage> curriculum;  ///< optional stages (empty: train everything)
  train::TrainOptions train;
};

/// Decodes those sections of @p root (absent ones keep their defaults; unknown keys are errors
/// with the dotted path). Throws ConfigError.
TrainingSections read_training_sections(ConfigReader& root);

}  // namespace tomograd::tasks
