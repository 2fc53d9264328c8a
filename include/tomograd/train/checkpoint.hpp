#pragma once
/// @file Checkpoints: model, optimizer, scheduler, RNG states and metadata, written atomically.
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

namespace tomograd::train {

/// What a checkpoint records besides tensors. Also written as `<name>.json` next to `<name>.pt`.
struct CheckpointMeta {
  int epoch = -1;                               ///< last completed epoch (0-based)
  int64_t global_step = 0;                      ///< optimizer steps so far
  std::string tag;                              ///< "last", "best", "best_f1", "stage1", ...
  std::map<std::string, double> metrics;        ///< validation metrics of that epoch
  std::optional<double> threshold;              ///< decision threshold chosen on validation
  std::string config_yaml;                      ///< resolved configuration of the run
  std::string config_hash;                      ///< hash of config_yaml
  std::map<std::string, double> scheduler;      ///< Scheduler::state()
  double loss_scale = 0.0;                      ///< fp16 GradScaler scale (0 when unused)
  int best_epoch = -1;                          ///< best epoch of the monitored metric so far
  double best_value = 0.0;
  int bad_epochs = 0;                           ///< epochs without improvement (early stopping)
  std::map<std::string, double> extra_best;     ///< best value per extra monitored metric
  std::string torch_version, tomograd_version;
};

/// JSON form of the metadata.
std::string to_json(const CheckpointMeta& meta);
CheckpointMeta meta_from_json(const std::string& json, const std::string& source);

/// Writes @p module (parameters and buffers), @p optimizer (if given), the CPU (and CUDA) RNG
/// states and @p meta to @p path atomically, then `<path without .pt>.json`. A crash while writing
/// leaves any previous file at @p path intact. Throws IoError.
void save_checkpoint(const std::filesystem::path& path, torch::nn::Module& module,
                     torch::optim::Optimizer* optimizer, const CheckpointMeta& meta);

/// Loads a checkpoint written by save_checkpoint into @p module (and @p optimizer if given);
/// restores RNG states when @p restore_rng. Tensors are mapped to the device of @p module's
/// parameters (a checkpoint written on cuda:1 loads into a CPU module). Throws IoError naming the file on a missing,
/// truncated or foreign file, and ValueError when the model's parameters do not match.
CheckpointMeta load_checkpoint(const std::filesystem::path& path, torch::nn::Module& module,
                               torch::optim::Optimizer* optimizer, bool restore_rng = false);

/// Reads only the metadata of a checkpoint.
CheckpointMeta read_checkpoint_meta(const std::filesystem::path& path);

/// 64-bit FNV-1a hash as 16 hex digits (config hashes, cache keys).
std::string fnv1a_hex(const std::string& text);

}  // namespace tomograd::train
