#pragma once
/// @file TorchScript export of a trained C++ module, for deployment without tomograd.
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tomograd/core/config.hpp"

namespace tomograd::train {

/// Traces @p forward (the module's forward on one input tensor) on @p example and saves a
/// TorchScript module to @p path (atomically) that holds the module's parameters and buffers
/// under their C++ names and computes the same outputs; loadable with torch::jit::load or
/// Python's torch.jit.load. The module is put in eval mode. Data-dependent control flow is
/// frozen at the traced path, as with torch.jit.trace. Throws Error on failure.
/// Returns the largest absolute difference between the saved module's output on @p example
/// (after reloading it) and @p forward's.
double export_torchscript(torch::nn::Module& module, const std::function<torch::Tensor(const torch::Tensor&)>& forward,
                          const torch::Tensor& example, const std::filesystem::path& path);

/// A run's model as export_run() needs it, built from the run's config.yaml (on the CPU).
struct ExportModel {
  std::shared_ptr<torch::nn::Module> module;
  std::function<torch::Tensor(const torch::Tensor&)> forward;
  std::vector<int64_t> example_shape;  ///< the example input without the batch (C,H,W or C,D,H,W)
  std::vector<int64_t> output_shape;   ///< without the batch
  std::string arch;                    ///< what it is, for the user
};

/// Builds the model of a run from the reader over its config.yaml; @p shape ("C,H,W", "C,D,H,W"
/// or "" = from the config) gives the example input. Throws ConfigError / ValueError.
using ExportModelFactory = std::function<ExportModel(ConfigReader& config, const std::string& shape)>;

/// `tomograd export RUN --out FILE`.
struct ExportRequest {
  std::filesystem::path run;
  std::filesystem::path out;
  std::string checkpoint = "best";  ///< tag (best, last, final, ...) or a .pt path
  std::string shape;                ///< example input without the batch ("" = from the config)
  int64_t batch = 1;
  bool force = false;               ///< replace @p out
};

/// What export_run() wrote.
struct ExportResult {
  std::filesystem::path checkpoint;
  int epoch = -1;                   ///< of the checkpoint (0-based)
  std::string arch;
  std::vector<int64_t> input_shape, output_shape;  ///< with the batch
  double max_abs_diff = 0.0;        ///< TorchScript vs C++ on the example
  bool any_batch = false;           ///< whether the saved module also runs at batch + 1
};

/// Exports a trained run's checkpoint as TorchScript: the run directory and the checkpoint tag are
/// resolved (train::RunDir), the model is built by @p build from config.yaml, the checkpoint
/// loaded, traced on a seeded random example and checked after reloading. Throws IoError (no
/// run, no checkpoint, @p out exists without force), ValueError, Error.
ExportResult export_run(const ExportRequest& request, const ExportModelFactory& build);

}  // namespace tomograd::train
