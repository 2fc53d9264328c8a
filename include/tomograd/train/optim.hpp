#pragma once
/// @file Optimizers with per-prefix parameter groups, and learning-rate schedulers.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tomograd::train {

/// Optimizer options (a config's `optim:` section).
struct OptimOptions {
  std::string name = "adamw";            ///< adamw | adam | sgd
  double lr = 1e-4;
  double weight_decay = 0.0;
  double momentum = 0.9;                  ///< sgd
  bool nesterov = false;                  ///< sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  ///< adam/adamw
  /// adam/adamw: update all parameters of a group with multi-tensor (`_foreach_`) operations, a
  /// handful of kernels per step instead of several per parameter; the same arithmetic and the same
  /// checkpoint state as LibTorch's per-parameter loop (false).
  bool foreach = true;
};

void validate(const OptimOptions& options);

/// Parameter groups: parameters whose name starts with one of the prefixes go to that group
/// (first matching prefix wins); the rest go to a last "default" group.
struct ParamGroups {
  std::vector<std::string> prefixes;
  /// Group index of each named parameter, in module->named_parameters() order.
  std::vector<std::pair<std::string, std::size_t>> assignment;
  std::size_t default_group() const { return prefixes.size(); }
  /// Group of parameter @p name.
  std::size_t group_of(const std::string& name) const;
};

ParamGroups make_param_groups(const torch::nn::Module& module, const std::vector<std::string>& prefixes);

/// Builds the optimizer with one param group per prefix plus the default group, all at
/// options.lr (schedulers and curricula set group rates later). Throws ConfigError.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& module, const OptimOptions& options,
                                                        const ParamGroups& groups);

/// Drops every gradient (as PyTorch's zero_grad(set_to_none=True)): the next backward writes
/// fresh gradients instead of adding to zeroed ones, and no memory is touched now.
void zero_grad_to_none(torch::optim::Optimizer& optimizer);

/// Learning rate of every param group.
std::vector<double> get_lrs(const torch::optim::Optimizer& optimizer);
void set_lr(torch::optim::Optimizer& optimizer, std::size_t group, double lr);

/// Scheduler options (a config's `scheduler:` section).
struct SchedulerOptions {
  std::string name = "none";   ///< none | plateau | exponential | step | cosine
  // plateau
  std::string mode = "min";    ///< min (loss) or max (a score)
  int patience = 5;
  double factor = 0.5;
  double threshold = 1e-4;     ///< relative improvement that counts
  double min_lr = 0.0;
  // exponential / step
  double gamma = 0.95;
  int step_size = 10;
  // cosine
  int warmup_epochs = 0;
  int total_epochs = 50;
};

void validate(const SchedulerOptions& options);

/// Adjusts the learning rates once per epoch. Rates are multipliers of each group's base rate,
/// so groups with their own rates (e.g. a curriculum) keep their ratios.
class Scheduler {
 public:
  explicit Scheduler(SchedulerOptions options);
  /// Called after epoch @p epoch with the monitored validation value (if any). Returns the
  /// multiplier applied for the next epoch.
  double step(int epoch, std::optional<double> monitored);
  /// Current multiplier.
  double factor() const { return scale_; }
  /// Multiplier at the start of epoch 0 (warm-up starts low).
  double initial_factor() const;
  /// State for checkpoints.
  std::map<std::string, double> state() const;
  void load_state(const std::map<std::string, double>& state);
  const SchedulerOptions& options() const { return options_; }

 private:
  SchedulerOptions options_;
  double scale_ = 1.0;
  double best_ = 0.0;
  bool has_best_ = false;
  int bad_epochs_ = 0;
};

}  // namespace tomograd::train
