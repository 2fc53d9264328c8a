// The checkpoint rules of a run (best, best_<metric>, curriculum stages, final) and early stopping.
#include "tomograd/train/checkpoint_policy.hpp"

#include <cmath>

#include "tomograd/train/checkpoint.hpp"

namespace tomograd::train {

namespace {

bool improved(double value, double best, const std::string& mode, bool has_best) {
  if (!std::isfinite(value)) return false;
  if (!has_best) return true;
  return mode == "min" ? value < best : value > best;
}

}  // namespace

CheckpointPolicy::CheckpointPolicy(TrainOptions options, Curriculum curriculum)
    : options_(std::move(options)), curriculum_(std::move(curriculum)) {}

CheckpointPolicy::Decision CheckpointPolicy::decide(int epoch, std::optional<double> monitored,
                                                    const std::map<std::string, double>& metrics) {
  Decision d;
  if (monitored && improved(*monitored, best_, options_.monitor_mode, has_best_)) {
    best_ = *monitored;
    best_epoch_ = epoch;
    has_best_ = true;
    bad_epochs_ = 0;
    d.saves.emplace_back("best", options_.monitor + " improved");
  } else {
    ++bad_epochs_;
  }
  for (const auto& [metric, mode] : options_.extra_best) {
    auto mi = metrics.find(metric);
    if (mi == metrics.end()) continue;
    auto bi = extra_best_.find(metric);
    if (improved(mi->second, bi == extra_best_.end() ? 0.0 : bi->second, mode, bi != extra_best_.end())) {
      extra_best_[metric] = mi->second;
      d.saves.emplace_back("best_" + metric, metric + " improved");
    }
  }
  const bool stage_ends = !curriculum_.empty() && epoch + 1 < options_.epochs &&
                          curriculum_.stage_at(epoch + 1) != curriculum_.stage_at(epoch);
  if (stage_ends) d.saves.emplace_back(curriculum_.stages()[curriculum_.stage_at(epoch)].name, "end of curriculum stage");
  d.stop = options_.early_stopping_patience > 0 && bad_epochs_ >= options_.early_stopping_patience;
  if (epoch + 1 == options_.epochs || d.stop) d.saves.emplace_back("final", d.stop ? "early stopping" : "last epoch");
  return d;
}

void CheckpointPolicy::restore(const CheckpointMeta& meta) {
  best_epoch_ = meta.best_epoch;
  best_ = meta.best_value;
  has_best_ = best_epoch_ >= 0;
  bad_epochs_ = meta.bad_epochs;
  extra_best_ = meta.extra_best;
}

void CheckpointPolicy::store(CheckpointMeta& meta) const {
  meta.best_epoch = best_epoch_;
  meta.best_value = best_;
  meta.bad_epochs = bad_epochs_;
  meta.extra_best = extra_best_;
}

}  // namespace tomograd::train
