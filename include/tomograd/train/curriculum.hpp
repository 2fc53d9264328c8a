#pragma once
/// @file Curriculum: stages that unfreeze parts of a model and set their learning rates.
#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "tomograd/train/optim.hpp"

namespace tomograd::train {

/// From epoch `from_epoch` on, only parameters whose names start with one of `trainable` are
/// trained ("*" = everything); `lr` sets the rate of parameters by prefix.
struct CurriculumStage {
  int from_epoch = 0;
  std::string name;                       ///< used for milestone checkpoints, e.g. "head_only"
  std::vector<std::string> trainable;
  std::map<std::string, double> lr;
};

/// The stages, sorted by from_epoch. Empty = train everything at the optimizer's rate.
class Curriculum {
 public:
  Curriculum() = default;
  /// Throws ConfigError when stages are unsorted, the first does not start at 0, or a stage has
  /// no trainable prefix.
  explicit Curriculum(std::vector<CurriculumStage> stages);
  bool empty() const { return stages_.empty(); }
  /// Index of the stage active at @p epoch (0 when empty).
  std::size_t stage_at(int epoch) const;
  const std::vector<CurriculumStage>& stages() const { return stages_; }
  /// Every lr prefix used by any stage (to build matching param groups).
  std::vector<std::string> lr_prefixes() const;
  /// Checks every stage against @p module: each `trainable` pattern and each `lr` prefix must
  /// match at least one parameter name (a typo would otherwise leave layers silently frozen, or
  /// at the default rate). Throws ConfigError naming the stage and the pattern and listing the
  /// module's top-level names.
  void check_patterns(const torch::nn::Module& module) const;
  /// Freezes/unfreezes parameters for @p epoch (frozen: requires_grad false and gradient reset,
  /// so they get no gradient and no optimizer state) and sets per-group base rates.
  /// Returns the base learning rate of each param group for that epoch. Calls check_patterns()
  /// first, so a pattern that matches nothing stops training at its start, not at its stage.
  std::vector<double> apply(int epoch, torch::nn::Module& module, const ParamGroups& groups, double default_lr) const;
  /// Names of the parameters trainable at @p epoch.
  std::vector<std::string> trainable_at(int epoch, const torch::nn::Module& module) const;

 private:
  std::vector<CurriculumStage> stages_;
};

}  // namespace tomograd::train
