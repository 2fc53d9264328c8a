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

#include "tomograd/core/batch_stats.hpp"
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

/// One epoch as logged: a row of history.csv and the "epoch N/M ..." line of train.log.
struct EpochRecord {
  int epoch = 0;                  ///< 0-based
  int epochs = 0;                 ///< planned epochs (train.epochs)
  double train_loss = 0.0;
  double val_loss = 0.0;          ///< NaN without validation
  double lr = 0.0;                ///< highest rate among the parameter groups that hold parameters
  double seconds = 0.0;           ///< training and validation
  double samples_per_s = 0.0;
  double data_wait = 0.0;         ///< fraction of the training pass spent waiting for the loader
  int64_t global_step = 0;        ///< optimizer steps after this epoch
  std::map<std::string, double> metrics;  ///< train_loss, val_loss and the task's val_* metrics
};

/// One optimizer step.
struct StepRecord {
  int epoch = 0;
  int64_t global_step = 0;        ///< steps so far, this one included
  /// Mean loss of the batches of this step (this process's share of them in a data-parallel job).
  double loss = 0.0;
  double lr = 0.0;
  int64_t samples = 0;            ///< samples of all ranks in this step
};

/// Receives the trainer's progress on rank 0 (history.csv and train.log are written anyway): a
/// TensorBoard event file, a dashboard. Attach with Trainer::add_sink(). on_step() comes right
/// after its step on the CPU; on CUDA the steps of up to 32 batches come together, after the last
/// of them, so that reading their losses costs one device-to-host copy, not one per step.
class TrainSink {
 public:
  virtual ~TrainSink() = default;
  /// Once per fit(), before the first epoch, with the training data.
  virtual void on_start(const Dataset& train) { (void)train; }
  virtual void on_step(const StepRecord& step) { (void)step; }
  /// After each validation pass, with its outputs (before on_epoch()).
  virtual void on_validation(int epoch, const EvalOutputs& outputs) { (void)epoch, (void)outputs; }
  virtual void on_epoch(const EpochRecord& epoch) { (void)epoch; }
};

/// What a Trainer is built from.
struct TrainerSetup {
  std::shared_ptr<torch::nn::Module> module;
  ForwardFn forward;              ///< the module's outputs for a batch already on the device
  LossFn loss;
  OptimOptions optim;
  SchedulerOptions scheduler;
  Curriculum curriculum;          ///< empty: every parameter trains from the first epoch
  TrainOptions options;
  std::filesystem::path run_dir;  ///< checkpoints/, history.csv, train.log go here (rank 0)
  std::string config_yaml;        ///< the resolved config, stored in checkpoints (and hashed)
};

class CheckpointPolicy;
class GradScaler;
struct CheckpointMeta;

/// Trains a module in a run directory (see DESIGN.md): checkpoints/{last,best}.pt (+ .json),
/// milestones at the end of each curriculum stage, checkpoints/summary.csv, history.csv and
/// train.log.
///
/// Launched as several processes (torchrun, srun: see distributed.hpp) it trains data-parallel:
/// each rank takes its share of every global batch, gradients are all-reduced, validation is
/// sharded and gathered, and rank 0 alone writes files.
class Trainer {
 public:
  explicit Trainer(TrainerSetup setup);
  /// The same as Trainer(TrainerSetup{...}) with the fields in declaration order.
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

  /// Adds a receiver of step and epoch records (called on rank 0 only).
  void add_sink(std::shared_ptr<TrainSink> sink) { sinks_.push_back(std::move(sink)); }

  const torch::Device& device() const { return device_; }
  torch::optim::Optimizer& optimizer() { return *optimizer_; }
  const ParamGroups& param_groups() const { return groups_; }
  const std::filesystem::path& run_dir() const { return run_dir_; }

 private:
  /// Where fit() stands: the epoch to start with and the history so far.
  struct FitState;

  EpochStats train_epoch(const Dataset& data, const Sampler& sampler, int epoch);
  /// Runs one optimizer step on the gradients accumulated so far.
  void optimizer_step(GradScaler& scaler);
  void apply_rates(int epoch);
  LoaderOptions loader_options(uint64_t stream, const Sampler& sampler) const;
  /// Parameters whose gradients are all-reduced (those that require grad), in a fixed order.
  std::vector<torch::Tensor> trainable_parameters() const;
  /// The rate logged for an epoch.
  double logged_lr() const;

  // fit(), in pieces (trainer_fit.cpp).
  FitState start_fresh();
  FitState resume_from_last(CheckpointPolicy& policy);
  EpochRecord run_epoch(int epoch, const Dataset& train, const Sampler& train_sampler, const Dataset* val,
                        const Sampler* val_sampler, const MetricsFn& metrics, const ThresholdFn& threshold,
                        std::optional<double>& threshold_out);
  /// Rank 0 writes the epoch's checkpoints, last.pt and history.csv; every rank then waits.
  void write_epoch(const std::vector<std::pair<std::string, std::string>>& saves, CheckpointMeta& meta,
                   const std::vector<EpochRecord>& history);
  void log_epoch(const EpochRecord& record);
  bool main_process() const;

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
  /// train.sync_batchnorm in a data-parallel job: the all-reduce BatchNorm layers use, while training.
  std::unique_ptr<BatchStatsAllReduceScope> sync_bn_;
  std::vector<std::shared_ptr<TrainSink>> sinks_;
};

}  // namespace tomograd::train
