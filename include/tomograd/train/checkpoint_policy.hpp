#pragma once
/// @file Which checkpoints an epoch writes, and when training stops early.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tomograd/train/curriculum.hpp"
#include "tomograd/train/trainer.hpp"

namespace tomograd::train {

/// The checkpoint rules of a run: best.pt when the monitored metric improves, best_<metric>.pt
/// for each train.extra_best metric, <stage>.pt at the end of each curriculum stage, final.pt at
/// the last epoch or on early stopping (train.early_stopping_patience); last.pt is written after
/// every epoch by the trainer. Its state travels in each checkpoint's metadata for resuming.
class CheckpointPolicy {
 public:
  CheckpointPolicy(TrainOptions options, Curriculum curriculum);

  /// What one epoch decided: {checkpoint name, reason} in writing order, and whether to stop.
  struct Decision {
    std::vector<std::pair<std::string, std::string>> saves;
    bool stop = false;
  };

  /// Takes epoch @p epoch's @p monitored value (nullopt when it was not computed) and @p metrics.
  Decision decide(int epoch, std::optional<double> monitored, const std::map<std::string, double>& metrics);

  /// Restores the state stored by store() (resume).
  void restore(const CheckpointMeta& meta);
  /// Writes best_epoch, best_value, bad_epochs and extra_best into @p meta.
  void store(CheckpointMeta& meta) const;

  int best_epoch() const { return best_epoch_; }
  double best_value() const { return best_; }
  int bad_epochs() const { return bad_epochs_; }

 private:
  TrainOptions options_;
  Curriculum curriculum_;
  bool has_best_ = false;
  double best_ = 0.0;
  int best_epoch_ = -1;
  int bad_epochs_ = 0;
  std::map<std::string, double> extra_best_;
};

}  // namespace tomograd::train
