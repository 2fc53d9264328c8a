#pragma once
/// @file The training loop shared by every task: epochs, validation, checkpoints, history.
#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tomograd/train/curriculum.hpp"
#include "tomograd/train/dataset.hpp"
#include "tomograd/train/loader.hpp"
#include "tomograd/train/loss.hpp"
#include "tomograd/train/optim.hpp"
#include "tomograd/train/sampler.hpp"

namespace tomograd::train {

/// Engine options (a config's `train:` section plus device settings).
struct TrainOptions {
  int epochs = 10;
  double grad_clip = 0.0;            ///< max gradient norm (0 = off)
  int accumulate = 1;                ///< batches per optimizer step
  int early_stopping_patience = 0;   ///< epochs without improvement before stopping (0 = off)
  std::string monitor = "val_loss";  ///< metric that picks best.pt and drives early stopping
  std::string monitor_mode = "min";  ///< min or max
  /// Extra metrics with their own best checkpoint "best_<metric>.pt", as {metric, min|max}.
  std::vector<std::pair<std::string, std::string>> extra_best;
  std::string device = "auto";       ///< auto | cpu | cuda | cuda:N
  std::string amp = "off";           ///< off | bf16 | fp16 (CUDA only)
  /// 2D models in channels_last (NHWC) memory format, on the CPU (oneDNN) and on CUDA.
  bool channels_last = false;
  bool deterministic = false;
  /// Keep BatchNorm layers in eval mode while training (running statistics used and not updated),
  /// as for fine-tuning pretrained backbones or with patient-grouped batches.
  bool freeze_batchnorm = false;
  /// Data-parallel runs: BatchNorm normalizes with the statistics of the whole global batch
  /// (all-reduced in forward and backward), so N processes train as one.
  bool sync_batchnorm = false;
  uint64_t seed = 42;
  LoaderOptions loader;
  bool show_progress = true;
};

void validate(const TrainOptions& options);

/// Everything the evaluation of one pass produces, on the CPU, in dataset-plan order.
struct EvalOutputs {
  torch::Tensor outputs;                  ///< [N, ...] model outputs (float32)
  torch::Tensor targets;                  ///< [N, ...] or undefined
  torch::Tensor masks;                    ///< [N, T] or undefined
  std::vector<std::string> patient_ids;
  std::vector<std::size_t> indices;
  double loss = 0.0;                      ///< mean loss over batches (NaN without targets)
};

/// Model outputs for a batch already on the device.
using ForwardFn = std::function<torch::Tensor(const Batch& batch)>;
/// Task metrics from validation outputs (for example patient-level R² or F1).
using MetricsFn = std::function<std::map<std::string, double>(const EvalOutputs& outputs)>;
/// Decision threshold chosen on validation outputs (binary tasks), stored in checkpoints.
using ThresholdFn = std::function<std::optional<double>(const EvalOutputs& outputs)>;

/// What one training epoch measured.
struct EpochStats {
  double loss = 0.0;           ///< mean over global batches of the batch's mean loss
  int64_t samples = 0;         ///< samples of all ranks
  double seconds = 0.0;        ///< the training pass alone
  double data_wait = 0.0;      ///< fraction of the pass spent waiting for the loader
};

/// Result of Trainer::fit().
struct TrainSummary {
  int epochs_run = 0;          ///< epochs completed in this call
  int last_epoch = -1;
  int best_epoch = -1;
  double best_value = 0.0;
  bool stopped_early = false;
  std::map<std::string, double> last_metrics;
};

/// Trains a module in a run directory (see DESIGN.md): checkpoints/{last,best}.pt (+ .json),
/// milestones at the end of each curriculum stage, checkpoints/summary.csv, history.csv and
/// train.log.
///
/// Launched as several processes (torchrun, srun: see distributed.hpp) it trains data-parallel:
/// each rank takes its share of every global batch, gradients are all-reduced, validation is
/// sharded and gathered, and rank 0 alone writes files.
class Trainer {
 public:
  Trainer(std::shared_ptr<torch::nn::Module> module, ForwardFn forward, LossFn loss, OptimOptions optim,
          SchedulerOptions scheduler, Curriculum curriculum, TrainOptions options, std::filesystem::path run_dir,
          std::string config_yaml = "");

  /// Trains for options.epochs epochs. With @p resume, continues from checkpoints/last.pt so that
  /// (on CPU) an interrupted and resumed run ends with the same weights as an uninterrupted one.
  TrainSummary fit(const Dataset& train, const Sampler& train_sampler, const Dataset* val,
                   const Sampler* val_sampler, MetricsFn metrics = nullptr, ThresholdFn threshold = nullptr,
                   bool resume = false);

  /// One pass without gradients in eval mode (inference mode). In a data-parallel job every rank
  /// evaluates a share of the batches and receives all outputs, in plan order.
  EvalOutputs evaluate(const Dataset& data, const Sampler& sampler);

  const torch::Device& device() const { return device_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  const ParamGroups& param_groups() const { return groups_; }
  const std::filesystem::path& run_dir() const { return run_dir_; }

 private:
  EpochStats train_epoch(const Dataset& data, const Sampler& sampler, int epoch);
  void apply_rates(int epoch);
  LoaderOptions loader_options(uint64_t stream, const Sampler& sampler) const;
  /// Parameters whose gradients are all-reduced (those that require grad), in a fixed order.
  std::vector<torch::Tensor> trainable_parameters() const;

  std::shared_ptr<torch::nn::Module> module_;
  ForwardFn forward_;
  LossFn loss_;
  OptimOptions optim_options_;
  Scheduler scheduler_;
  Curriculum curriculum_;
  TrainOptions options_;
  std::filesystem::path run_dir_;
  std::string config_yaml_;
  torch::Device device_;
  ParamGroups groups_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  int64_t global_step_ = 0;
  double loss_scale_ = 65536.0;
  class Communicator* comm_ = nullptr;  ///< data-parallel job, or nullptr for one process
};

}  // namespace tomograd::train
