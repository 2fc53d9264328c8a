#pragma once
/// @file What every task's `train` entry point takes (bmd, metastasis, lumbar): where the run
/// goes and how an existing run directory is treated.
#include <filesystem>
#include <string>

namespace tomograd::tasks {

/// Options of a task's train_model(config, request).
struct TrainRequest {
  std::filesystem::path out;  ///< run directory (must not exist or be empty unless resume/force)
  bool resume = false;        ///< continue the run in @p out from checkpoints/last.pt
  bool force = false;         ///< train into a non-empty @p out (its checkpoints are replaced)
  /// auto | cpu | cuda | cuda:N; "" keeps the config's train.device. A resumed run may use another
  /// device than the one it started on (checkpoints are mapped to it).
  std::string device;
};

}  // namespace tomograd::tasks
