#include "tomograd/train/loss.hpp"

#include <torch/torch.h>

#include "loss_weight.hpp"
#include "tomograd/core/error.hpp"

namespace F = torch::nn::functional;

namespace tomograd::train {

void validate(const LossOptions& o) {
  static const char* kNames[] = {"mse", "smooth_l1", "bce", "cross_entropy"};
  bool known = false;
  for (const char* n : kNames) known = known || o.name == n;
  if (!known) throw ConfigError("loss.name: unknown loss '" + o.name + "' (valid: mse, smooth_l1, bce, cross_entropy)");
  if (!(o.beta > 0)) throw ConfigError("loss.beta must be > 0");
  if (!(o.pos_weight > 0)) throw ConfigError("loss.pos_weight must be > 0");
  if (o.label_smoothing < 0 || o.label_smoothing >= 1) throw ConfigError("loss.label_smoothing must be in [0, 1)");
  if (o.tasks < 0 || o.classes < 0) throw ConfigError("loss.tasks and loss.classes must be >= 0");
  if (o.tasks > 0 && o.name == "cross_entropy" && o.classes < 2) {
    throw ConfigError("loss.classes must be >= 2 for a multi-task cross_entropy");
  }
  if (!o.task_weights.empty() && o.tasks > 0 && static_cast<int64_t>(o.task_weights.size()) != o.tasks) {
    throw ConfigError("loss.task_weights has " + std::to_string(o.task_weights.size()) + " values for " +
                      std::to_string(o.tasks) + " tasks");
  }
  if (!o.class_weights.empty() && o.classes > 0 && static_cast<int64_t>(o.class_weights.size()) != o.classes) {
    throw ConfigError("loss.class_weights has " + std::to_string(o.class_weights.size()) + " values for " +
                      std::to_string(o.classes) + " classes");
  }
}

namespace detail {

namespace {
thread_local int g_weights_recorded = 0;
thread_local torch::Tensor g_weight;
}  // namespace

void reset_loss_weight() { g_weights_recorded = 0; }

void record_loss_weight(const torch::Tensor& denominator) {
  ++g_weights_recorded;
  g_weight = denominator.detach();
}

void record_unweighted_mean() { ++g_weights_recorded; }

std::optional<torch::Tensor> recorded_loss_weight() {
  if (g_weights_recorded != 1) return std::nullopt;
  return g_weight;
}

}  // namespace detail

void declare_mean_over(const torch::Tensor& count) { detail::record_loss_weight(count); }

namespace {

// Mean of elementwise losses over labelled entries, optionally weighted per task (last dim).
torch::Tensor masked_mean(const torch::Tensor& elementwise, const torch::Tensor& mask, const torch::Tensor& task_w) {
  torch::Tensor w = torch::ones_like(elementwise);
  if (mask.defined()) w = w * mask.to(elementwise.dtype()).reshape(elementwise.sizes());
  if (task_w.defined()) w = w * task_w;
  // clamp keeps an all-missing batch at zero loss instead of 0/0.
  const torch::Tensor denom = w.sum().clamp_min(1e-12);
  detail::record_loss_weight(denom);
  return (elementwise * w).sum() / denom;
}

}  // namespace

LossFn make_loss(const LossOptions& o) {
  validate(o);
  return [o](const torch::Tensor& outputs, const Batch& batch) -> torch::Tensor {
    const torch::Tensor& target = batch.target;
    if (!target.defined()) throw ValueError("loss '" + o.name + "' needs targets, the batch has none");
    const int64_t n = outputs.size(0);
    torch::Tensor task_w;
    if (!o.task_weights.empty()) task_w = torch::tensor(o.task_weights, outputs.options());
    if (o.name == "cross_entropy") {
      const int64_t tasks = o.tasks > 0 ? o.tasks : 1;
      const int64_t classes = o.tasks > 0 ? o.classes : outputs.size(-1);
      torch::Tensor logits = outputs.reshape({n * tasks, classes});
      torch::Tensor labels = target.reshape({n * tasks}).to(torch::kLong);
      torch::Tensor valid = batch.mask.defined() ? batch.mask.reshape({n * tasks}).to(torch::kBool)
                                                 : torch::ones({n * tasks}, labels.options().dtype(torch::kBool));
      // Missing labels may hold any value: point them at class 0 and weight them out.
      labels = torch::where(valid, labels, torch::zeros_like(labels));
      auto opts = F::CrossEntropyFuncOptions().reduction(torch::kNone).label_smoothing(o.label_smoothing);
      if (!o.class_weights.empty()) opts = opts.weight(torch::tensor(o.class_weights, outputs.options()));
      // With class weights, cross_entropy(reduction none) already multiplies each entry by the
      // weight of its target class; the mean divides by the summed weights of the labelled
      // entries, as PyTorch's weighted mean does.
      torch::Tensor per = F::cross_entropy(logits, labels, opts).reshape({n, tasks});
      torch::Tensor include = valid.reshape({n, tasks}).to(outputs.dtype());
      if (task_w.defined()) include = include * task_w;
      torch::Tensor denom = include;
      if (!o.class_weights.empty()) {
        denom = denom * torch::tensor(o.class_weights, outputs.options()).index_select(0, labels).reshape({n, tasks});
      }
      const torch::Tensor total = denom.sum().clamp_min(1e-12);
      detail::record_loss_weight(total);
      return (per * include).sum() / total;
    }
    torch::Tensor y = target.to(outputs.dtype()).reshape(outputs.sizes());
    torch::Tensor per;
    if (o.name == "mse") {
      per = F::mse_loss(outputs, y, F::MSELossFuncOptions().reduction(torch::kNone));
    } else if (o.name == "smooth_l1") {
      per = F::smooth_l1_loss(outputs, y, F::SmoothL1LossFuncOptions().reduction(torch::kNone), o.beta);
    } else {  // bce
      auto opts = F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kNone);
      if (o.pos_weight != 1.0) opts = opts.pos_weight(torch::full({outputs.size(-1)}, o.pos_weight, outputs.options()));
      per = F::binary_cross_entropy_with_logits(outputs, y, opts);
    }
    return masked_mean(per, batch.mask, task_w);
  };
}

LossFn with_regularizer(LossFn loss, std::function<torch::Tensor(const torch::Tensor&, const Batch&)> regularizer,
                        double weight) {
  return [loss = std::move(loss), regularizer = std::move(regularizer), weight](const torch::Tensor& out,
                                                                                const Batch& b) {
    const torch::Tensor total = loss(out, b) + weight * regularizer(out, b);
    // Two means with different denominators (the regularizer averages over samples): a
    // data-parallel rank's part falls back to its sample count (docs/distributed.md).
    detail::record_unweighted_mean();
    return total;
  };
}

}  // namespace tomograd::train
