#include "tomograd/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iomanip>
#include <set>
#include <sstream>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/distributed.hpp"

namespace fs = std::filesystem;

namespace tomograd::train {

void validate(const TrainOptions& o) {
  if (o.epochs < 1) throw ConfigError("train.epochs must be >= 1, got " + std::to_string(o.epochs));
  if (o.grad_clip < 0) throw ConfigError("train.grad_clip must be >= 0 (0 = off)");
  if (o.accumulate < 1) throw ConfigError("train.accumulate must be >= 1");
  if (o.early_stopping_patience < 0) throw ConfigError("train.early_stopping_patience must be >= 0 (0 = off)");
  if (o.monitor_mode != "min" && o.monitor_mode != "max") throw ConfigError("train.monitor_mode must be min or max");
  for (const auto& [metric, mode] : o.extra_best) {
    if (mode != "min" && mode != "max") throw ConfigError("train.extra_best: mode of '" + metric + "' must be min or max");
  }
  if (o.loader.workers < 0 || o.loader.prefetch < 1) throw ConfigError("train.loader.workers must be >= 0 and train.loader.prefetch >= 1");
  parse_amp(o.amp);
}

namespace {

bool improved(double value, double best, const std::string& mode, bool has_best) {
  if (!std::isfinite(value)) return false;
  if (!has_best) return true;
  return mode == "min" ? value < best : value > best;
}

struct HistoryRow {
  int epoch;
  double train_loss, val_loss, lr, seconds, samples_per_s;
  double data_wait;  // fraction of the training pass spent waiting for the loader
  std::map<std::string, double> metrics;
};

std::string fmt(double v) {
  if (!std::isfinite(v)) return "";
  std::ostringstream s;
  s << std::setprecision(8) << v;
  return s.str();
}

void write_history(const fs::path& file, const std::vector<HistoryRow>& rows) {
  std::set<std::string> names;
  for (const auto& r : rows) {
    for (const auto& [k, v] : r.metrics) {
      if (k != "val_loss" && k != "train_loss") names.insert(k);
    }
  }
  std::vector<std::string> header{"epoch", "train_loss", "val_loss"};
  header.insert(header.end(), names.begin(), names.end());
  for (const char* c : {"lr", "seconds", "samples_per_s", "data_wait"}) header.emplace_back(c);
  CsvTable t(header, {}, file.string());
  for (const auto& r : rows) {
    std::vector<std::string> row{std::to_string(r.epoch), fmt(r.train_loss), fmt(r.val_loss)};
    for (const auto& n : names) {
      auto it = r.metrics.find(n);
      row.push_back(it == r.metrics.end() ? "" : fmt(it->second));
    }
    row.push_back(fmt(r.lr));
    row.push_back(fmt(r.seconds));
    row.push_back(fmt(r.samples_per_s));
    row.push_back(fmt(r.data_wait));
    t.add_row(std::move(row));
  }
  write_file_atomic(file, t.to_string(), Overwrite::kAllow);
}

std::vector<HistoryRow> read_history(const fs::path& file, int up_to_epoch) {
  std::vector<HistoryRow> rows;
  std::error_code ec;
  if (!fs::exists(file, ec)) return rows;
  CsvTable t = CsvTable::read(file);
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    HistoryRow h{};
    auto num = [&](const std::string& col) {
      auto v = parse_number(t.at(r, t.column_index(col)));
      return v ? *v : std::nan("");
    };
    h.epoch = static_cast<int>(num("epoch"));
    if (h.epoch > up_to_epoch) continue;
    h.train_loss = num("train_loss");
    h.val_loss = num("val_loss");
    h.lr = num("lr");
    h.seconds = num("seconds");
    h.samples_per_s = num("samples_per_s");
    h.data_wait = t.has_column("data_wait") ? num("data_wait") : std::nan("");
    for (const auto& col : t.header()) {
      if (col == "epoch" || col == "train_loss" || col == "val_loss" || col == "lr" || col == "seconds" ||
          col == "samples_per_s" || col == "data_wait") {
        continue;
      }
      if (auto v = parse_number(t.at(r, t.column_index(col)))) h.metrics[col] = *v;
    }
    if (std::isfinite(h.val_loss)) h.metrics["val_loss"] = h.val_loss;
    rows.push_back(h);
  }
  return rows;
}

void append_summary(const fs::path& file, const std::string& name, const CheckpointMeta& meta,
                    const std::string& reason) {
  CsvTable t({"checkpoint", "epoch", "reason", "metrics"}, {}, file.string());
  std::error_code ec;
  if (fs::exists(file, ec)) t = CsvTable::read(file);
  std::string metrics;
  for (const auto& [k, v] : meta.metrics) metrics += (metrics.empty() ? "" : ";") + k + "=" + fmt(v);
  t.add_row({name, std::to_string(meta.epoch), reason, metrics});
  write_file_atomic(file, t.to_string(), Overwrite::kAllow);
}

}  // namespace

Trainer::Trainer(std::shared_ptr<torch::nn::Module> module, ForwardFn forward, LossFn loss, OptimOptions optim,
                 SchedulerOptions scheduler, Curriculum curriculum, TrainOptions options, fs::path run_dir,
                 std::string config_yaml)
    : module_(std::move(module)),
      forward_(std::move(forward)),
      loss_(std::move(loss)),
      optim_options_(std::move(optim)),
      scheduler_(std::move(scheduler)),
      curriculum_(std::move(curriculum)),
      options_(std::move(options)),
      run_dir_(std::move(run_dir)),
      config_yaml_(std::move(config_yaml)),
      device_(parse_device(options_.device)) {
  validate(options_);
  if (options_.deterministic) set_deterministic(true);
  module_->to(device_);
  if (options_.channels_last) to_channels_last(*module_);
  comm_ = communicator(device_);
  if (comm_) {
    if (options_.sync_batchnorm) {
      throw ConfigError("train.sync_batchnorm is not implemented yet: leave it false (each rank then normalizes "
                        "with its own share of the batch, and rank 0's running statistics are kept)");
    }
    broadcast_module(*comm_, *module_);
  }
  if (parse_amp(options_.amp) != AmpMode::kOff && !device_.is_cuda()) {
    logger()->warn("mixed precision '{}' needs a CUDA device; training in fp32 on {}", options_.amp, device_.str());
  }
  groups_ = make_param_groups(*module_, curriculum_.lr_prefixes());
  optimizer_ = make_optimizer(*module_, optim_options_, groups_);
}

void Trainer::apply_rates(int epoch) {
  std::vector<double> base = curriculum_.apply(epoch, *module_, groups_, optim_options_.lr);
  for (std::size_t g = 0; g < base.size(); ++g) {
    set_lr(*optimizer_, g, std::max(base[g] * scheduler_.factor(), scheduler_.options().min_lr));
  }
}

LoaderOptions Trainer::loader_options(uint64_t stream, const Sampler& sampler) const {
  LoaderOptions lo = options_.loader;
  lo.seed = derive_seed(options_.seed, stream);
  lo.pin_memory = lo.pin_memory && device_.is_cuda();
  if (comm_) {
    lo.rank = comm_->rank();
    lo.world_size = comm_->world_size();
    lo.keep_patients = sampler.patient_grouped();
  }
  return lo;
}

std::vector<torch::Tensor> Trainer::trainable_parameters() const {
  std::vector<torch::Tensor> params;
  for (const auto& p : module_->parameters()) {
    if (p.requires_grad()) params.push_back(p);
  }
  return params;
}

EpochStats Trainer::train_epoch(const Dataset& data, const Sampler& sampler, int epoch) {
  module_->train();
  if (options_.freeze_batchnorm) {
    // Normalize with the running statistics and leave them as they are: batch statistics of
    // patient-grouped batches carry the patient's identity and differ from inference.
    for (auto& m : module_->modules(/*include_self=*/false)) {
      if (m->as<torch::nn::BatchNorm1d>() || m->as<torch::nn::BatchNorm2d>() || m->as<torch::nn::BatchNorm3d>()) {
        m->eval();
      }
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  const AmpMode amp = device_.is_cuda() ? parse_amp(options_.amp) : AmpMode::kOff;
  GradScaler scaler(amp == AmpMode::kFp16, loss_scale_);
  const LoaderOptions lo = loader_options(1, sampler);
  DataLoader loader(data, sampler, lo);
  const std::size_t batches = loader.start_epoch(epoch);
  if (comm_ && !lo.keep_patients) {
    for (std::size_t b = 0; b + 1 < batches; ++b) {
      if (loader.global_batch_size(b) % static_cast<std::size_t>(comm_->world_size()) != 0) {
        throw ConfigError("data.batch_size (the global batch) is " + std::to_string(loader.global_batch_size(b)) +
                          ", which does not divide by the world size " + std::to_string(comm_->world_size()) +
                          ": use a multiple of " + std::to_string(comm_->world_size()));
      }
    }
  }
  const bool main = !comm_ || comm_->rank() == 0;
  ProgressBar bar(options_.show_progress && main ? static_cast<int64_t>(loader.global_epoch_samples()) : 0,
                  "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options_.epochs), "samples");
  // The loss sum stays on the device (float64, so it adds up exactly as a host double would):
  // on CUDA it is read back every kCheckEvery batches, not after each step.
  const std::size_t check_every = device_.is_cuda() ? 32 : 1;
  torch::Tensor loss_sum = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  EpochStats stats;
  zero_grad_to_none(*optimizer_);
  Batch batch;
  for (std::size_t b = 0; loader.next(batch); ++b) {
    const auto global_n = static_cast<double>(loader.global_batch_size(b));
    if (batch.size() > 0) {
      Batch on_device = batch.to(device_, lo.pin_memory);
      if (options_.channels_last && on_device.input.dim() == 4) {
        on_device.input = on_device.input.contiguous(torch::MemoryFormat::ChannelsLast);
      }
      torch::Tensor loss;
      {
        AutocastGuard autocast(amp, device_);
        torch::Tensor out = forward_(on_device);
        loss = loss_(out.to(torch::kFloat32), on_device);
      }
      // A rank's share of the global batch weighs its mean loss, so that the all-reduced sum of
      // gradients is the gradient of the global batch's mean loss.
      const double share = static_cast<double>(on_device.size()) / global_n;
      torch::Tensor scaled = share != 1.0 ? loss * share : loss;
      scaler.scale(scaled / options_.accumulate).backward();
      loss_sum += share != 1.0 ? loss.detach().to(torch::kFloat64) * share : loss.detach().to(torch::kFloat64);
    }
    if ((b + 1) % check_every == 0 || b + 1 == batches) {
      const double seen = loss_sum.item<double>();
      if (!std::isfinite(seen)) {
        throw Error("training diverged: loss is " + std::to_string(seen) + " at epoch " + std::to_string(epoch + 1) +
                    ", batch " + std::to_string(b + 1) + " or earlier (lower the learning rate or check the inputs)");
      }
    }
    stats.samples += static_cast<int64_t>(global_n);
    bar.tick(static_cast<int64_t>(global_n));
    const bool step_now = (b + 1) % static_cast<std::size_t>(options_.accumulate) == 0 || b + 1 == batches;
    if (step_now) {
      if (comm_) allreduce_gradients(*comm_, trainable_parameters());
      if (options_.grad_clip > 0) {
        scaler.unscale(*optimizer_);
        std::vector<torch::Tensor> params;
        for (auto& p : module_->parameters()) {
          if (p.grad().defined()) params.push_back(p);
        }
        torch::nn::utils::clip_grad_norm_(params, options_.grad_clip);
      }
      scaler.step(*optimizer_);
      zero_grad_to_none(*optimizer_);
      ++global_step_;
    }
  }
  bar.finish();
  if (scaler.enabled()) loss_scale_ = scaler.current_scale();
  if (comm_) {
    std::vector<torch::Tensor> sum{loss_sum.to(torch::kCPU)};
    comm_->allreduce_sum(sum);
    loss_sum = sum[0];
    // BatchNorm running statistics: rank 0's, as PyTorch's DistributedDataParallel keeps them.
    broadcast_buffers(*comm_, *module_);
  }
  stats.loss = batches ? loss_sum.item<double>() / static_cast<double>(batches) : std::nan("");
  stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  stats.data_wait = stats.seconds > 0 ? loader.wait_seconds() / stats.seconds : 0.0;
  return stats;
}

EvalOutputs Trainer::evaluate(const Dataset& data, const Sampler& sampler) {
  module_->eval();
  const AmpMode amp = device_.is_cuda() ? parse_amp(options_.amp) : AmpMode::kOff;
  const LoaderOptions lo = loader_options(2, sampler);
  DataLoader loader(data, sampler, lo);
  loader.start_epoch(0);
  EvalOutputs r;
  std::vector<torch::Tensor> outs, targets, masks, positions;
  double total = 0.0;
  std::size_t counted = 0;
  Batch batch;
  for (std::size_t b = 0; loader.next(batch); ++b) {
    const std::size_t global_n = loader.global_batch_size(b);
    if (batch.size() > 0) {
      torch::Tensor out;
      {
        c10::InferenceMode inference;
        Batch on_device = batch.to(device_, lo.pin_memory);
        if (options_.channels_last && on_device.input.dim() == 4) {
          on_device.input = on_device.input.contiguous(torch::MemoryFormat::ChannelsLast);
        }
        {
          AutocastGuard autocast(amp, device_);
          out = forward_(on_device).to(torch::kFloat32);
        }
        if (on_device.target.defined()) {
          total += loss_(out, on_device).item<double>() * static_cast<double>(batch.size()) / static_cast<double>(global_n);
        }
        out = out.to(torch::kCPU);
      }
      if (batch.target.defined()) targets.push_back(batch.target);
      if (batch.mask.defined()) masks.push_back(batch.mask);
      // Outside inference mode: copies that later code may modify in place.
      outs.push_back(out.clone());
      r.patient_ids.insert(r.patient_ids.end(), batch.patient_ids.begin(), batch.patient_ids.end());
      r.indices.insert(r.indices.end(), batch.indices.begin(), batch.indices.end());
    }
    if (global_n > 0) ++counted;
  }
  if (!outs.empty()) r.outputs = torch::cat(outs);
  if (!targets.empty()) r.targets = torch::cat(targets);
  if (!masks.empty()) r.masks = torch::cat(masks);
  bool has_targets = !targets.empty();
  if (comm_) {
    // Every rank receives all outputs, reordered to the order of one process.
    std::vector<int64_t> idx(r.indices.begin(), r.indices.end());
    torch::Tensor all_idx = comm_->allgather_cat(torch::tensor(idx, torch::kInt64));
    if (r.outputs.defined()) r.outputs = comm_->allgather_cat(r.outputs);
    if (r.targets.defined()) r.targets = comm_->allgather_cat(r.targets);
    if (r.masks.defined()) r.masks = comm_->allgather_cat(r.masks);
    std::vector<torch::Tensor> sum{torch::tensor({total, targets.empty() ? 0.0 : 1.0}, torch::kFloat64)};
    comm_->allreduce_sum(sum);
    total = sum[0][0].item<double>();
    has_targets = sum[0][1].item<double>() > 0;
    // Position of each dataset index in one process's plan order.
    std::map<int64_t, int64_t> position;
    int64_t pos = 0;
    for (const auto& bb : sampler.plan(0)) {
      for (std::size_t i : bb) position.emplace(static_cast<int64_t>(i), pos++);
    }
    std::vector<int64_t> keys;
    for (int64_t i = 0; i < all_idx.size(0); ++i) keys.push_back(position.at(all_idx[i].item<int64_t>()));
    torch::Tensor order = torch::argsort(torch::tensor(keys, torch::kInt64));
    if (r.outputs.defined()) r.outputs = r.outputs.index_select(0, order);
    if (r.targets.defined()) r.targets = r.targets.index_select(0, order);
    if (r.masks.defined()) r.masks = r.masks.index_select(0, order);
    all_idx = all_idx.index_select(0, order);
    r.indices.clear();
    r.patient_ids.clear();
    for (int64_t i = 0; i < all_idx.size(0); ++i) {
      const auto k = static_cast<std::size_t>(all_idx[i].item<int64_t>());
      r.indices.push_back(k);
      r.patient_ids.push_back(data.patient_of(k));
    }
  }
  r.loss = has_targets && counted ? total / static_cast<double>(counted) : std::nan("");
  return r;
}

TrainSummary Trainer::fit(const Dataset& train, const Sampler& train_sampler, const Dataset* val,
                          const Sampler* val_sampler, MetricsFn metrics, ThresholdFn threshold, bool resume) {
  const fs::path ckpt_dir = run_dir_ / "checkpoints";
  // Rank 0 alone writes the run directory; the others read it (resume, best.pt afterwards).
  const bool main = !comm_ || comm_->rank() == 0;
  if (main) {
    ensure_directory(ckpt_dir);
    add_log_file(run_dir_ / "train.log");
  }
  const std::string config_hash = fnv1a_hex(config_yaml_);

  TrainSummary summary;
  int start_epoch = 0;
  bool has_best = false;
  double best = 0.0;
  int best_epoch = -1, bad_epochs = 0;
  std::map<std::string, double> extra_best;
  std::vector<HistoryRow> history;
  if (resume) {
    const fs::path last = ckpt_dir / "last.pt";
    CheckpointMeta m = load_checkpoint(last, *module_, optimizer_.get(), /*restore_rng=*/true);
    if (!config_yaml_.empty() && !m.config_hash.empty() && m.config_hash != config_hash) {
      logger()->warn("resuming with a configuration that differs from the one in '{}'", last.string());
    }
    start_epoch = m.epoch + 1;
    global_step_ = m.global_step;
    if (!m.scheduler.empty()) scheduler_.load_state(m.scheduler);
    if (m.loss_scale > 0) loss_scale_ = m.loss_scale;
    best_epoch = m.best_epoch;
    best = m.best_value;
    has_best = best_epoch >= 0;
    bad_epochs = m.bad_epochs;
    extra_best = m.extra_best;
    history = read_history(run_dir_ / "history.csv", m.epoch);
    logger()->info("resuming from '{}' after epoch {}", last.string(), m.epoch + 1);
    if (start_epoch >= options_.epochs) {
      logger()->info("run already completed {} of {} epochs", start_epoch, options_.epochs);
    }
  } else {
    seed_everything(options_.seed);
  }

  for (int epoch = start_epoch; epoch < options_.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    apply_rates(epoch);
    // The logged rate: the highest among groups that hold parameters (a curriculum may leave the
    // default group empty).
    double lr = 0.0;
    {
      const auto lrs = get_lrs(*optimizer_);
      for (std::size_t g = 0; g < lrs.size(); ++g) {
        if (!optimizer_->param_groups()[g].params().empty()) lr = std::max(lr, lrs[g]);
      }
    }
    const EpochStats stats = train_epoch(train, train_sampler, epoch);
    const double train_loss = stats.loss;
    const int64_t samples = stats.samples;

    std::map<std::string, double> m;
    std::optional<double> thr;
    double val_loss = std::nan("");
    if (val && val_sampler) {
      EvalOutputs out = evaluate(*val, *val_sampler);
      val_loss = out.loss;
      if (metrics) m = metrics(out);
      if (threshold) thr = threshold(out);
    }
    if (std::isfinite(val_loss)) m["val_loss"] = val_loss;
    m["train_loss"] = train_loss;
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Monitored value: validation metric when there is validation, else the training loss.
    auto it = m.find(options_.monitor);
    std::optional<double> monitored;
    if (it != m.end()) monitored = it->second;
    else if (!val) monitored = train_loss;
    else logger()->warn("monitored metric '{}' was not computed at epoch {}", options_.monitor, epoch + 1);

    CheckpointMeta meta;
    meta.epoch = epoch;
    meta.global_step = global_step_;
    meta.metrics = m;
    meta.threshold = thr;
    meta.config_yaml = config_yaml_;
    meta.config_hash = config_hash;
    meta.loss_scale = loss_scale_;
    std::vector<std::pair<std::string, std::string>> saves;  // {file, reason}
    if (monitored && improved(*monitored, best, options_.monitor_mode, has_best)) {
      best = *monitored;
      best_epoch = epoch;
      has_best = true;
      bad_epochs = 0;
      saves.emplace_back("best", options_.monitor + " improved");
    } else {
      ++bad_epochs;
    }
    for (const auto& [metric, mode] : options_.extra_best) {
      auto mi = m.find(metric);
      if (mi == m.end()) continue;
      auto bi = extra_best.find(metric);
      if (improved(mi->second, bi == extra_best.end() ? 0.0 : bi->second, mode, bi != extra_best.end())) {
        extra_best[metric] = mi->second;
        saves.emplace_back("best_" + metric, metric + " improved");
      }
    }
    const bool stage_ends = !curriculum_.empty() && epoch + 1 < options_.epochs &&
                            curriculum_.stage_at(epoch + 1) != curriculum_.stage_at(epoch);
    if (stage_ends) saves.emplace_back(curriculum_.stages()[curriculum_.stage_at(epoch)].name, "end of curriculum stage");
    const bool stop = options_.early_stopping_patience > 0 && bad_epochs >= options_.early_stopping_patience;
    if (epoch + 1 == options_.epochs || stop) saves.emplace_back("final", stop ? "early stopping" : "last epoch");

    scheduler_.step(epoch, monitored);
    meta.scheduler = scheduler_.state();
    meta.best_epoch = best_epoch;
    meta.best_value = best;
    meta.bad_epochs = bad_epochs;
    meta.extra_best = extra_best;
    history.push_back({epoch, train_loss, val_loss, lr, seconds, seconds > 0 ? samples / seconds : 0.0,
                       stats.data_wait, m});
    if (main) {
      for (const auto& [name, reason] : saves) {
        meta.tag = name;
        save_checkpoint(ckpt_dir / (name + ".pt"), *module_, optimizer_.get(), meta);
        append_summary(ckpt_dir / "summary.csv", name + ".pt", meta, reason);
      }
      // last.pt comes last: a crash before this point resumes from the previous epoch.
      meta.tag = "last";
      save_checkpoint(ckpt_dir / "last.pt", *module_, optimizer_.get(), meta);
      write_history(run_dir_ / "history.csv", history);
    }
    if (comm_) comm_->barrier();
    std::ostringstream line;
    line << "epoch " << epoch + 1 << "/" << options_.epochs << " train_loss " << fmt(train_loss);
    for (const auto& [k, v] : m) {
      if (k != "train_loss") line << " " << k << " " << fmt(v);
    }
    line << " lr " << fmt(lr) << " (" << std::fixed << std::setprecision(1) << seconds << " s, "
         << std::setprecision(1) << (seconds > 0 ? samples / seconds : 0.0) << " samples/s, "
         << std::setprecision(0) << 100.0 * stats.data_wait << " % waiting for data)";
    logger()->info("{}", line.str());

    summary.epochs_run++;
    summary.last_epoch = epoch;
    summary.last_metrics = m;
    if (stop) {
      logger()->info("early stopping: {} did not improve for {} epochs (best {} at epoch {})", options_.monitor,
                     bad_epochs, fmt(best), best_epoch + 1);
      summary.stopped_early = true;
      break;
    }
  }
  summary.best_epoch = best_epoch;
  summary.best_value = best;
  return summary;
}

}  // namespace tomograd::train
