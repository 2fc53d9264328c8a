#pragma once
/// @file The model of any task's run, for train::export_run() (`tomograd export`).
#include <string>

#include "tomograd/core/config.hpp"
#include "tomograd/train/export.hpp"

namespace tomograd::tasks {

/// Builds the model of a run's config (its `model:` section, any task) without pretrained
/// weights, with the example input of @p shape ("C,H,W" for 2D models, "C,D,H,W" for 3D; "" =
/// model.in_channels and preprocess.resize height,width, or simple_cnn's input_size). Throws
/// ConfigError (no model section), ValueError (bad shape, 3D model without a shape, a head that
/// takes a metadata vector).
train::ExportModel model_for_export(ConfigReader& config, const std::string& shape);

}  // namespace tomograd::tasks
