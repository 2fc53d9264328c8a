// The trainer: one training pass, one evaluation pass (fit() is in trainer_fit.cpp).
#include "tomograd/train/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "tomograd/core/batch_draws.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/distributed.hpp"
#include "loss_weight.hpp"

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

Trainer::Trainer(std::shared_ptr<torch::nn::Module> module, ForwardFn forward, LossFn loss, OptimOptions optim,
                 SchedulerOptions scheduler, Curriculum curriculum, TrainOptions options, fs::path run_dir,
                 std::string config_yaml)
    : Trainer(TrainerSetup{std::move(module), std::move(forward), std::move(loss), std::move(optim),
                           std::move(scheduler), std::move(curriculum), std::move(options), std::move(run_dir),
                           std::move(config_yaml)}) {}

Trainer::Trainer(TrainerSetup setup)
    : module_(std::move(setup.module)),
      forward_(std::move(setup.forward)),
      loss_(std::move(setup.loss)),
      optim_options_(std::move(setup.optim)),
      scheduler_(std::move(setup.scheduler)),
      curriculum_(std::move(setup.curriculum)),
      options_(std::move(setup.options)),
      run_dir_(std::move(setup.run_dir)),
      config_yaml_(std::move(setup.config_yaml)),
      device_(parse_device(options_.device)) {
  validate(options_);
  if (options_.deterministic) set_deterministic(true, device_);
  module_->to(device_);
  if (options_.channels_last) to_channels_last(*module_);
  comm_ = communicator(device_);
  if (comm_) {
    // BatchNorm layers of tomograd's models then normalize with the global batch's statistics.
    if (options_.sync_batchnorm) {
      Communicator* comm = comm_;
      sync_bn_ = std::make_unique<BatchStatsAllReduceScope>([comm](std::vector<torch::Tensor>& t) {
        comm->allreduce_sum(t);
      });
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

namespace {

// Normalize with the running statistics and leave them as they are: batch statistics of
// patient-grouped batches carry the patient's identity and differ from inference.
void freeze_batchnorm(torch::nn::Module& module) {
  for (auto& m : module.modules(/*include_self=*/false)) {
    // LibTorch's BatchNorm classes and tomograd's (models/batch_norm.hpp, which the train layer
    // does not include): their demangled class names.
    if (m->name().find("BatchNorm") != std::string::npos) {
      m->eval();
    }
  }
}

// Every global batch but the last must split evenly over the ranks (unless patient-grouped).
void check_global_batches(const DataLoader& loader, std::size_t batches, int world) {
  for (std::size_t b = 0; b + 1 < batches; ++b) {
    if (loader.global_batch_size(b) % static_cast<std::size_t>(world) != 0) {
      throw ConfigError("data.batch_size (the global batch) is " + std::to_string(loader.global_batch_size(b)) +
                        ", which does not divide by the world size " + std::to_string(world) +
                        ": use a multiple of " + std::to_string(world));
    }
  }
}

/// Outputs of mixed precision (fp16/bf16) in float32 for the loss and the metrics; float32 and
/// float64 outputs as they are (a float64 model keeps its precision end to end).
torch::Tensor full_precision(const torch::Tensor& out) {
  return out.scalar_type() == torch::kHalf || out.scalar_type() == torch::kBFloat16 ? out.to(torch::kFloat32) : out;
}

Batch to_device(const Batch& batch, const torch::Device& device, bool pin_memory, bool channels_last) {
  Batch on_device = batch.to(device, pin_memory);
  if (channels_last && on_device.input.dim() == 4) {
    on_device.input = on_device.input.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  return on_device;
}

/// Outputs of the ranks gathered on every rank and put back in one process's plan order.
void gather_in_plan_order(Communicator& comm, const Dataset& data, const Sampler& sampler, EvalOutputs& r) {
  std::vector<int64_t> idx(r.indices.begin(), r.indices.end());
  torch::Tensor all_idx = comm.allgather_cat(torch::tensor(idx, torch::kInt64));
  // Every rank joins each gather, also without outputs of its own (its shares were empty).
  for (torch::Tensor* t : {&r.outputs, &r.targets, &r.masks}) *t = comm.allgather_cat(*t);
  // Position of each dataset index in one process's plan order.
  std::map<int64_t, int64_t> position;
  int64_t pos = 0;
  for (const auto& bb : sampler.plan(0)) {
    for (std::size_t i : bb) position.emplace(static_cast<int64_t>(i), pos++);
  }
  std::vector<int64_t> keys;
  for (int64_t i = 0; i < all_idx.size(0); ++i) keys.push_back(position.at(all_idx[i].item<int64_t>()));
  torch::Tensor order = torch::argsort(torch::tensor(keys, torch::kInt64));
  for (torch::Tensor* t : {&r.outputs, &r.targets, &r.masks}) {
    if (t->defined()) *t = t->index_select(0, order);
  }
  all_idx = all_idx.index_select(0, order);
  r.indices.clear();
  r.patient_ids.clear();
  for (int64_t i = 0; i < all_idx.size(0); ++i) {
    const auto k = static_cast<std::size_t>(all_idx[i].item<int64_t>());
    r.indices.push_back(k);
    r.patient_ids.push_back(data.patient_of(k));
  }
}

}  // namespace

void Trainer::optimizer_step(GradScaler& scaler) {
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

namespace {

/// What one training batch needs of the trainer.
struct BatchStep {
  const ForwardFn& forward;
  const LossFn& loss;
  const torch::Device& device;
  AmpMode amp;
  bool pin_memory, channels_last;
  int accumulate;
  Communicator* comm;  ///< nullptr for one process
};

/// This rank's part of the global batch's mean loss, as a factor of its own mean loss: its summed
/// loss weight over all ranks' (make_loss's weighted means: missing labels, class weights), or its
/// samples over the global batch's when some rank's loss recorded no single weight. Every rank
/// calls it once per global batch, between forward and backward (an empty share with @p n = 0):
/// one all-reduce of two numbers.
double share_of_global(Communicator& comm, double n, double global_n, const std::optional<torch::Tensor>& weight) {
  const double own = weight ? weight->to(torch::kCPU, torch::kFloat64).item<double>() : 0.0;
  std::vector<torch::Tensor> t{torch::tensor({own, n > 0 && !weight ? 1.0 : 0.0}, torch::kFloat64)};
  comm.allreduce_sum(t);
  const double total = t[0][0].item<double>();
  if (n == 0) return 0.0;
  if (t[0][1].item<double>() > 0 || !(total > 0)) return n / global_n;
  return own / total;
}

/// Forward and backward of this rank's share of a global batch of @p global_n samples. Returns
/// the share's mean loss weighted by its part of the global batch (float64, on the device), so
/// that the ranks' values, like their gradients, sum to the global batch's.
torch::Tensor train_share(const BatchStep& st, const Batch& batch, double global_n, GradScaler& scaler) {
  Batch on_device = to_device(batch, st.device, st.pin_memory, st.channels_last);
  torch::Tensor loss;
  detail::reset_loss_weight();
  {
    AutocastGuard autocast(st.amp, st.device);
    loss = st.loss(full_precision(st.forward(on_device)), on_device);
  }
  const double n = static_cast<double>(on_device.size());
  const double share = st.comm ? share_of_global(*st.comm, n, global_n, detail::recorded_loss_weight()) : 1.0;
  torch::Tensor scaled = share != 1.0 ? loss * share : loss;
  scaler.scale(scaled / st.accumulate).backward();
  return share != 1.0 ? loss.detach().to(torch::kFloat64) * share : loss.detach().to(torch::kFloat64);
}

/// A rank's empty share of a global batch (the last one, or patient-grouped) still joins the
/// ranks' collectives of that batch. With synchronized BatchNorm (@p run_model) the other ranks'
/// BatchNorm layers all-reduce statistics in forward and backward, so this rank runs the model on
/// the zero-row batch and back-propagates zeros, joining them with zero counts and sums (its
/// parameter gradients are zeros); in between, the loss share's all-reduce.
void join_empty_share(const BatchStep& st, const Batch& batch, double global_n, bool run_model) {
  torch::Tensor out;
  if (run_model && batch.input.defined()) {
    Batch on_device = to_device(batch, st.device, false, st.channels_last);
    AutocastGuard autocast(st.amp, st.device);
    out = st.forward(on_device);
  }
  share_of_global(*st.comm, 0.0, global_n, std::nullopt);
  if (out.defined() && out.requires_grad()) (out.sum() * 0).backward();
}

/// The key of the dropout and stochastic-depth masks of global batch @p b: the run's seed, the
/// epoch and the batch, and where this rank's samples sit in it (core/batch_draws.hpp), so that
/// a sample's masks are the same on 1 or N processes.
BatchDrawKey batch_draw_key(uint64_t seed, int epoch, std::size_t b, const DataLoader& loader, const Batch& batch) {
  constexpr uint64_t kDropoutStream = 0x64726f706f7574;  // "dropout"
  const uint64_t key = derive_seed(derive_seed(derive_seed(seed, kDropoutStream), static_cast<uint64_t>(epoch)), b);
  return {key, static_cast<int64_t>(loader.global_batch_size(b)), static_cast<int64_t>(loader.global_offset(b)),
          static_cast<int64_t>(batch.size())};
}

/// The sum over global batches of each batch's mean loss, from evaluate()'s per-batch parts
/// (summed over ranks): the weighted mean where every rank's loss recorded its weight and
/// @p weighted (a data-parallel job), else the sample-share sum (one process: its own mean).
double summed_batch_losses(const torch::Tensor& parts, bool weighted) {
  double total = 0.0;
  auto part = parts.accessor<double, 2>();
  for (int64_t b = 0; b < parts.size(0); ++b) {
    total += weighted && part[b][3] == 0 && part[b][2] > 0 ? part[b][1] / part[b][2] : part[b][0];
  }
  return total;
}

/// Optimizer steps not yet given to the sinks: their records, their loss sums (on the device)
/// and how many global batches each took.
struct PendingSteps {
  std::vector<StepRecord> records;
  std::vector<torch::Tensor> sums;
  std::vector<int> batches;
};

/// Gives rank 0's sinks each pending step's loss: the mean over its global batches of each global
/// batch's mean loss, as one process computes it (the ranks' weighted shares summed). One
/// device-to-host copy, and in a data-parallel job one all-reduce on every rank, for all pending
/// steps: the trainer flushes after every batch on the CPU and every 32 batches on CUDA, so a
/// GPU is not made to wait at each step for a number only the logs need.
void flush_steps(Communicator* comm, const std::vector<std::shared_ptr<TrainSink>>& sinks, PendingSteps& pending) {
  if ((comm || !sinks.empty()) && !pending.records.empty()) {
    std::vector<torch::Tensor> sum{torch::cat(pending.sums).to(torch::kCPU)};
    if (comm) comm->allreduce_sum(sum);
    for (std::size_t i = 0; i < pending.records.size() && !sinks.empty(); ++i) {
      StepRecord step = pending.records[i];
      const int n = pending.batches[i];
      step.loss = n > 0 ? sum[0][static_cast<int64_t>(i)].item<double>() / n : std::nan("");
      for (const auto& sink : sinks) sink->on_step(step);
    }
  }
  pending = PendingSteps{};
}

}  // namespace

EpochStats Trainer::train_epoch(const Dataset& data, const Sampler& sampler, int epoch) {
  module_->train();
  if (options_.freeze_batchnorm) freeze_batchnorm(*module_);
  const auto t0 = std::chrono::steady_clock::now();
  const AmpMode amp = device_.is_cuda() ? parse_amp(options_.amp) : AmpMode::kOff;
  GradScaler scaler(amp == AmpMode::kFp16, loss_scale_);
  const LoaderOptions lo = loader_options(1, sampler);
  const BatchStep st{forward_, loss_, device_, amp, lo.pin_memory, options_.channels_last, options_.accumulate, comm_};
  DataLoader loader(data, sampler, lo);
  const std::size_t batches = loader.start_epoch(epoch);
  if (comm_ && !lo.keep_patients) check_global_batches(loader, batches, comm_->world_size());
  ProgressBar bar(options_.show_progress && main_process() ? static_cast<int64_t>(loader.global_epoch_samples()) : 0,
                  "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(options_.epochs), "samples");
  // Loss sums stay on the device (float64, so they add up exactly as a host double would): on
  // CUDA the epoch's is read back every kCheckEvery batches, not after each step.
  const std::size_t check_every = device_.is_cuda() ? 32 : 1;
  const auto sum_options = torch::TensorOptions().dtype(torch::kFloat64).device(device_);
  torch::Tensor loss_sum = torch::zeros({1}, sum_options), step_sum = torch::zeros({1}, sum_options);
  const bool report_steps = !sinks_.empty() && main_process();
  const std::vector<std::shared_ptr<TrainSink>> no_sinks;
  StepRecord step{epoch, 0, 0.0, 0.0, 0};
  int step_batches = 0;
  PendingSteps pending;
  EpochStats stats;
  zero_grad_to_none(*optimizer_);
  Batch batch;
  for (std::size_t b = 0; loader.next(batch); ++b) {
    const auto global_n = static_cast<double>(loader.global_batch_size(b));
    const BatchDrawScope draws(batch_draw_key(options_.seed, epoch, b, loader, batch));
    if (batch.size() > 0) {
      const torch::Tensor share_loss = train_share(st, batch, global_n, scaler);
      loss_sum += share_loss;
      step_sum += share_loss;
    } else if (comm_) {
      join_empty_share(st, batch, global_n, sync_bn_ != nullptr);
    }
    step_batches += global_n > 0;
    const bool read_back = (b + 1) % check_every == 0 || b + 1 == batches;
    if (read_back) {
      const double seen = loss_sum.item<double>();
      if (!std::isfinite(seen)) {
        throw Error("training diverged: loss is " + std::to_string(seen) + " at epoch " + std::to_string(epoch + 1) +
                    ", batch " + std::to_string(b + 1) + " or earlier (lower the learning rate or check the inputs)");
      }
    }
    stats.samples += static_cast<int64_t>(global_n);
    step.samples += static_cast<int64_t>(global_n);
    bar.tick(static_cast<int64_t>(global_n));
    if ((b + 1) % static_cast<std::size_t>(options_.accumulate) == 0 || b + 1 == batches) {
      optimizer_step(scaler);
      step.global_step = global_step_;
      if (report_steps) step.lr = logged_lr();
      if (comm_ || report_steps) {
        pending.records.push_back(step);
        pending.sums.push_back(step_sum.clone());
        pending.batches.push_back(step_batches);
      }
      step = StepRecord{epoch, 0, 0.0, 0.0, 0};
      step_sum.zero_();
      step_batches = 0;
    }
    if (read_back) flush_steps(comm_, report_steps ? sinks_ : no_sinks, pending);
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
  const std::size_t batches = loader.start_epoch(0);
  EvalOutputs r;
  std::vector<torch::Tensor> outs, targets, masks;
  // Per global batch, this rank's: loss x sample share, loss x loss weight, loss weight, 1 when
  // its loss recorded no single weight (loss_weight.hpp; summed over ranks in a job).
  torch::Tensor parts = torch::zeros({static_cast<int64_t>(batches), 4}, torch::kFloat64);
  auto part = parts.accessor<double, 2>();
  std::size_t counted = 0;
  Batch batch;
  for (std::size_t b = 0; loader.next(batch); ++b) {
    const std::size_t global_n = loader.global_batch_size(b);
    if (global_n > 0) ++counted;
    if (batch.size() == 0) continue;
    torch::Tensor out;
    {
      c10::InferenceMode inference;
      Batch on_device = to_device(batch, device_, lo.pin_memory, options_.channels_last);
      {
        AutocastGuard autocast(amp, device_);
        out = full_precision(forward_(on_device));
      }
      if (on_device.target.defined()) {
        detail::reset_loss_weight();
        const double loss = loss_(out, on_device).item<double>();
        const auto i = static_cast<int64_t>(b);
        part[i][0] = loss * static_cast<double>(batch.size()) / static_cast<double>(global_n);
        if (const auto w = detail::recorded_loss_weight()) {
          part[i][2] = w->to(torch::kCPU, torch::kFloat64).item<double>();
          part[i][1] = loss * part[i][2];
        } else {
          part[i][3] = 1.0;
        }
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
  if (!outs.empty()) r.outputs = torch::cat(outs);
  if (!targets.empty()) r.targets = torch::cat(targets);
  if (!masks.empty()) r.masks = torch::cat(masks);
  bool has_targets = !targets.empty();
  if (comm_) {
    // Every rank receives all outputs, reordered to the order of one process.
    gather_in_plan_order(*comm_, data, sampler, r);
    std::vector<torch::Tensor> sum{torch::tensor({targets.empty() ? 0.0 : 1.0}, torch::kFloat64), parts};
    comm_->allreduce_sum(sum);
    has_targets = sum[0][0].item<double>() > 0;
  }
  r.loss = has_targets && counted ? summed_batch_losses(parts, comm_ != nullptr) / static_cast<double>(counted)
                                  : std::nan("");
  return r;
}

}  // namespace tomograd::train
