// Trainer::fit(): a fresh start or a resume, the epoch loop, the checkpoint policy, logging.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/blas.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/checkpoint_policy.hpp"
#include "tomograd/train/distributed.hpp"
#include "tomograd/train/trainer.hpp"
#include "tomograd/train/tensorboard.hpp"
#include "trainer_impl.hpp"

namespace fs = std::filesystem;

namespace tomograd::train {

using detail::fmt;

struct Trainer::FitState {
  int start_epoch = 0;
  std::vector<EpochRecord> history;
};

bool Trainer::main_process() const { return !comm_ || comm_->rank() == 0; }

double Trainer::logged_lr() const {
  // The highest among groups that hold parameters (a curriculum may leave the default group empty).
  double lr = 0.0;
  const auto lrs = get_lrs(*optimizer_);
  for (std::size_t g = 0; g < lrs.size(); ++g) {
    if (!optimizer_->param_groups()[g].params().empty()) lr = std::max(lr, lrs[g]);
  }
  return lr;
}

Trainer::FitState Trainer::start_fresh() {
  seed_everything(options_.seed);
  return {};
}

Trainer::FitState Trainer::resume_from_last(CheckpointPolicy& policy) {
  const fs::path last = run_dir_ / "checkpoints" / "last.pt";
  const CheckpointMeta m = load_checkpoint(last, *module_, optimizer_.get(), /*restore_rng=*/true);
  if (!config_yaml_.empty() && !m.config_hash.empty() && m.config_hash != fnv1a_hex(config_yaml_)) {
    logger()->warn("resuming with a configuration that differs from the one in '{}'", last.string());
  }
  FitState state;
  state.start_epoch = m.epoch + 1;
  global_step_ = m.global_step;
  if (!m.scheduler.empty()) scheduler_.load_state(m.scheduler);
  if (m.loss_scale > 0) loss_scale_ = m.loss_scale;
  policy.restore(m);
  state.history = detail::read_history(run_dir_ / "history.csv", m.epoch);
  logger()->info("resuming from '{}' after epoch {}", last.string(), m.epoch + 1);
  if (state.start_epoch >= options_.epochs) {
    logger()->info("run already completed {} of {} epochs", state.start_epoch, options_.epochs);
  }
  return state;
}

EpochRecord Trainer::run_epoch(int epoch, const Dataset& train, const Sampler& train_sampler, const Dataset* val,
                               const Sampler* val_sampler, const MetricsFn& metrics, const ThresholdFn& threshold,
                               std::optional<double>& threshold_out) {
  const auto t0 = std::chrono::steady_clock::now();
  apply_rates(epoch);
  EpochRecord r;
  r.epoch = epoch;
  r.epochs = options_.epochs;
  r.lr = logged_lr();
  const EpochStats stats = train_epoch(train, train_sampler, epoch);
  r.train_loss = stats.loss;
  r.val_loss = std::nan("");
  if (val && val_sampler) {
    EvalOutputs out = evaluate(*val, *val_sampler);
    r.val_loss = out.loss;
    if (main_process()) {
      for (const auto& sink : sinks_) sink->on_validation(epoch, out);
    }
    if (metrics) r.metrics = metrics(out);
    if (threshold) threshold_out = threshold(out);
  }
  if (std::isfinite(r.val_loss)) r.metrics["val_loss"] = r.val_loss;
  r.metrics["train_loss"] = r.train_loss;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.samples_per_s = r.seconds > 0 ? static_cast<double>(stats.samples) / r.seconds : 0.0;
  r.data_wait = stats.data_wait;
  r.global_step = global_step_;
  return r;
}

void Trainer::write_epoch(const std::vector<std::pair<std::string, std::string>>& saves, CheckpointMeta& meta,
                          const std::vector<EpochRecord>& history) {
  if (main_process()) {
    const fs::path ckpt_dir = run_dir_ / "checkpoints";
    for (const auto& [name, reason] : saves) {
      meta.tag = name;
      save_checkpoint(ckpt_dir / (name + ".pt"), *module_, optimizer_.get(), meta);
      detail::append_summary(ckpt_dir / "summary.csv", name + ".pt", meta, reason);
    }
    // last.pt comes last: a crash before this point resumes from the previous epoch.
    meta.tag = "last";
    save_checkpoint(ckpt_dir / "last.pt", *module_, optimizer_.get(), meta);
    detail::write_history(run_dir_ / "history.csv", history);
  }
  if (comm_) comm_->barrier();
}

void Trainer::log_epoch(const EpochRecord& r) {
  std::ostringstream line;
  line << "epoch " << r.epoch + 1 << "/" << r.epochs << " train_loss " << fmt(r.train_loss);
  for (const auto& [k, v] : r.metrics) {
    if (k != "train_loss") line << " " << k << " " << fmt(v);
  }
  line << " lr " << fmt(r.lr) << " (" << std::fixed << std::setprecision(1) << r.seconds << " s, "
       << std::setprecision(1) << r.samples_per_s << " samples/s, " << std::setprecision(0) << 100.0 * r.data_wait
       << " % waiting for data)";
  logger()->info("{}", line.str());
  if (main_process()) {
    for (const auto& sink : sinks_) sink->on_epoch(r);
  }
}

TrainSummary Trainer::fit(const Dataset& train, const Sampler& train_sampler, const Dataset* val,
                          const Sampler* val_sampler, MetricsFn metrics, ThresholdFn threshold, bool resume) {
  // Rank 0 alone writes the run directory; the others read it (resume, best.pt afterwards).
  if (main_process()) {
    ensure_directory(run_dir_ / "checkpoints");
    add_log_file(run_dir_ / "train.log");
    // Every run directory gets TensorBoard event files (RUN/tensorboard/), next to history.csv.
    std::vector<std::string> group_names = groups_.prefixes;
    group_names.push_back("default");
    const bool attached = std::any_of(sinks_.begin(), sinks_.end(),
                                      [](const auto& s) { return dynamic_cast<TensorBoardSink*>(s.get()) != nullptr; });
    if (!attached) add_sink(std::make_shared<TensorBoardSink>(run_dir_ / "tensorboard", optimizer_.get(), group_names));
    for (const auto& sink : sinks_) sink->on_start(train);
    // On the CPU: the threads and the BLAS in train.log, and a run on the reference BLAS is told
    // once what to install.
    if (device_.is_cpu()) {
      logger()->info("CPU: {} intra-op threads (OMP_NUM_THREADS sets them), {}", torch::get_num_threads(),
                     blas_info().name);
      warn_if_reference_blas();
    }
  }
  CheckpointPolicy policy(options_, curriculum_);
  FitState state = resume ? resume_from_last(policy) : start_fresh();
  TrainSummary summary;
  for (int epoch = state.start_epoch; epoch < options_.epochs; ++epoch) {
    std::optional<double> thr;
    const EpochRecord rec = run_epoch(epoch, train, train_sampler, val, val_sampler, metrics, threshold, thr);
    // Monitored value: validation metric when there is validation, else the training loss.
    std::optional<double> monitored;
    if (auto it = rec.metrics.find(options_.monitor); it != rec.metrics.end()) monitored = it->second;
    else if (!val) monitored = rec.train_loss;
    else logger()->warn("monitored metric '{}' was not computed at epoch {}", options_.monitor, epoch + 1);

    CheckpointMeta meta;
    meta.epoch = epoch;
    meta.global_step = global_step_;
    meta.metrics = rec.metrics;
    meta.threshold = thr;
    meta.config_yaml = config_yaml_;
    meta.config_hash = fnv1a_hex(config_yaml_);
    meta.loss_scale = loss_scale_;
    const CheckpointPolicy::Decision decision = policy.decide(epoch, monitored, rec.metrics);
    scheduler_.step(epoch, monitored);
    meta.scheduler = scheduler_.state();
    policy.store(meta);
    state.history.push_back(rec);
    write_epoch(decision.saves, meta, state.history);
    log_epoch(rec);

    summary.epochs_run++;
    summary.last_epoch = epoch;
    summary.last_metrics = rec.metrics;
    if (decision.stop) {
      logger()->info("early stopping: {} did not improve for {} epochs (best {} at epoch {})", options_.monitor,
                     policy.bad_epochs(), fmt(policy.best_value()), policy.best_epoch() + 1);
      summary.stopped_early = true;
      break;
    }
  }
  summary.best_epoch = policy.best_epoch();
  summary.best_value = policy.best_value();
  return summary;
}

}  // namespace tomograd::train
