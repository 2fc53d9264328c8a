#include "tomograd/train/optim.hpp"

#include <cmath>

#include "tomograd/core/error.hpp"
#include "tomograd/core/torch_compat.hpp"

namespace tomograd::train {

namespace {

/// Adam (kDecoupled = false) or AdamW (true) whose step() updates each parameter group with
/// multi-tensor operations. Same arithmetic, state type and serialization as LibTorch's own
/// class (torch/csrc/api/src/optim/adam.cpp, adamw.cpp in 1.13), so checkpoints are interchangeable.
/// Per-parameter step counts (a layer unfrozen later starts at step 1) go in as scalar lists.
template <class Base, class Options, class State, bool kDecoupled>
class ForeachAdam : public Base {
 public:
  using Base::Base;

  torch::Tensor step(torch::optim::Optimizer::LossClosure closure = nullptr) override {
    for (auto& group : this->param_groups()) {
      if (static_cast<Options&>(group.options()).amsgrad()) return Base::step(std::move(closure));
    }
    torch::NoGradGuard no_grad;
    torch::Tensor loss;
    if (closure) {
      at::AutoGradMode enable_grad(true);
      loss = closure();
    }
    for (auto& group : this->param_groups()) {
      const auto& o = static_cast<const Options&>(group.options());
      const double lr = o.lr(), beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
      std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq;
      std::vector<c10::Scalar> step_size, bias2_sqrt;
      for (auto& p : group.params()) {
        if (!p.grad().defined()) continue;
        TORCH_CHECK(!p.grad().is_sparse(), "Adam/AdamW do not support sparse gradients");
        auto& slot = this->state()[compat::optimizer_state_key(p)];
        if (!slot) {
          auto s = std::make_unique<State>();
          s->step(0);
          s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
          slot = std::move(s);
        }
        auto& s = static_cast<State&>(*slot);
        s.step(s.step() + 1);
        const double bias1 = 1 - std::pow(beta1, static_cast<double>(s.step()));
        const double bias2 = 1 - std::pow(beta2, static_cast<double>(s.step()));
        step_size.emplace_back(-lr / bias1);
        bias2_sqrt.emplace_back(std::sqrt(bias2));
        params.push_back(p);
        grads.push_back(p.grad());
        exp_avg.push_back(s.exp_avg());
        exp_avg_sq.push_back(s.exp_avg_sq());
      }
      if (params.empty()) continue;
      if (o.weight_decay() != 0) {
        if (kDecoupled) at::_foreach_mul_(params, 1 - lr * o.weight_decay());
        else grads = at::_foreach_add(grads, params, o.weight_decay());
      }
      at::_foreach_mul_(exp_avg, beta1);
      at::_foreach_add_(exp_avg, grads, 1 - beta1);
      at::_foreach_mul_(exp_avg_sq, beta2);
      at::_foreach_addcmul_(exp_avg_sq, grads, grads, 1 - beta2);
      std::vector<torch::Tensor> denom = at::_foreach_sqrt(exp_avg_sq);
      at::_foreach_div_(denom, bias2_sqrt);
      at::_foreach_add_(denom, o.eps());
      at::_foreach_addcdiv_(params, exp_avg, denom, step_size);
    }
    return loss;
  }
};

using ForeachAdamOptimizer = ForeachAdam<torch::optim::Adam, torch::optim::AdamOptions, torch::optim::AdamParamState, false>;
using ForeachAdamWOptimizer =
    ForeachAdam<torch::optim::AdamW, torch::optim::AdamWOptions, torch::optim::AdamWParamState, true>;

}  // namespace

void validate(const OptimOptions& o) {
  if (o.name != "adamw" && o.name != "adam" && o.name != "sgd") {
    throw ConfigError("optim.name: unknown optimizer '" + o.name + "' (valid: adamw, adam, sgd)");
  }
  if (!(o.lr > 0)) throw ConfigError("optim.lr must be > 0, got " + std::to_string(o.lr));
  if (o.weight_decay < 0) throw ConfigError("optim.weight_decay must be >= 0");
  if (o.momentum < 0 || o.momentum >= 1) throw ConfigError("optim.momentum must be in [0, 1)");
  if (o.beta1 < 0 || o.beta1 >= 1 || o.beta2 < 0 || o.beta2 >= 1) throw ConfigError("optim.beta1/beta2 must be in [0, 1)");
}

std::size_t ParamGroups::group_of(const std::string& name) const {
  for (std::size_t g = 0; g < prefixes.size(); ++g) {
    if (name.compare(0, prefixes[g].size(), prefixes[g]) == 0) return g;
  }
  return default_group();
}

ParamGroups make_param_groups(const torch::nn::Module& module, const std::vector<std::string>& prefixes) {
  ParamGroups g;
  g.prefixes = prefixes;
  for (const auto& p : module.named_parameters(true)) g.assignment.emplace_back(p.key(), g.group_of(p.key()));
  return g;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(torch::nn::Module& module, const OptimOptions& o,
                                                        const ParamGroups& groups) {
  validate(o);
  std::vector<std::vector<torch::Tensor>> params(groups.prefixes.size() + 1);
  auto named = module.named_parameters(true);
  for (const auto& [name, g] : groups.assignment) params[g].push_back(named[name]);
  // Every group exists even when empty, so group indices stay stable across checkpoints.
  std::vector<torch::optim::OptimizerParamGroup> pg;
  for (auto& p : params) {
    if (o.name == "sgd") {
      pg.emplace_back(p, std::make_unique<torch::optim::SGDOptions>(
                             torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay).nesterov(o.nesterov)));
    } else if (o.name == "adam") {
      pg.emplace_back(p, std::make_unique<torch::optim::AdamOptions>(
                             torch::optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weight_decay)));
    } else {
      pg.emplace_back(p, std::make_unique<torch::optim::AdamWOptions>(
                             torch::optim::AdamWOptions(o.lr).betas({o.beta1, o.beta2}).eps(o.eps).weight_decay(o.weight_decay)));
    }
  }
  if (o.name == "sgd") return std::make_unique<torch::optim::SGD>(pg, torch::optim::SGDOptions(o.lr));
  if (o.name == "adam") {
    if (o.foreach) return std::make_unique<ForeachAdamOptimizer>(std::move(pg), torch::optim::AdamOptions(o.lr));
    return std::make_unique<torch::optim::Adam>(std::move(pg), torch::optim::AdamOptions(o.lr));
  }
  if (o.foreach) return std::make_unique<ForeachAdamWOptimizer>(std::move(pg), torch::optim::AdamWOptions(o.lr));
  return std::make_unique<torch::optim::AdamW>(std::move(pg), torch::optim::AdamWOptions(o.lr));
}

void zero_grad_to_none(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
    }
  }
}

std::vector<double> get_lrs(const torch::optim::Optimizer& optimizer) {
  std::vector<double> lrs;
  for (const auto& g : optimizer.param_groups()) lrs.push_back(g.options().get_lr());
  return lrs;
}

void set_lr(torch::optim::Optimizer& optimizer, std::size_t group, double lr) {
  optimizer.param_groups().at(group).options().set_lr(lr);
}

void validate(const SchedulerOptions& o) {
  if (o.name != "none" && o.name != "plateau" && o.name != "exponential" && o.name != "step" && o.name != "cosine") {
    throw ConfigError("scheduler.name: unknown scheduler '" + o.name + "' (valid: none, plateau, exponential, step, cosine)");
  }
  if (o.mode != "min" && o.mode != "max") throw ConfigError("scheduler.mode must be min or max, got '" + o.mode + "'");
  if (!(o.factor > 0 && o.factor < 1)) throw ConfigError("scheduler.factor must be in (0, 1)");
  if (o.patience < 0) throw ConfigError("scheduler.patience must be >= 0");
  if (!(o.gamma > 0 && o.gamma <= 1)) throw ConfigError("scheduler.gamma must be in (0, 1]");
  if (o.step_size < 1) throw ConfigError("scheduler.step_size must be >= 1");
  if (o.warmup_epochs < 0 || o.total_epochs < 1) throw ConfigError("scheduler.warmup_epochs >= 0 and total_epochs >= 1");
}

Scheduler::Scheduler(SchedulerOptions options) : options_(std::move(options)) {
  validate(options_);
  scale_ = initial_factor();
}

double Scheduler::initial_factor() const {
  if (options_.name == "cosine" && options_.warmup_epochs > 0) return 1.0 / (options_.warmup_epochs + 1);
  return 1.0;
}

double Scheduler::step(int epoch, std::optional<double> monitored) {
  const std::string& n = options_.name;
  const int next = epoch + 1;  // the epoch the new rate applies to
  if (n == "plateau") {
    if (monitored && std::isfinite(*monitored)) {
      const double v = *monitored;
      // PyTorch's relative threshold: an improvement must beat best by a factor (1 -/+ threshold).
      const bool better = !has_best_ || (options_.mode == "min" ? v < best_ * (1 - options_.threshold)
                                                                 : v > best_ * (1 + options_.threshold));
      if (better) {
        best_ = v;
        has_best_ = true;
        bad_epochs_ = 0;
      } else if (++bad_epochs_ > options_.patience) {
        scale_ *= options_.factor;
        bad_epochs_ = 0;
      }
    }
  } else if (n == "exponential") {
    scale_ = std::pow(options_.gamma, next);
  } else if (n == "step") {
    scale_ = std::pow(options_.gamma, next / options_.step_size);
  } else if (n == "cosine") {
    const int w = options_.warmup_epochs;
    if (next < w) {
      scale_ = static_cast<double>(next + 1) / (w + 1);
    } else {
      const double t = std::min(1.0, static_cast<double>(next - w) / std::max(1, options_.total_epochs - w));
      scale_ = 0.5 * (1 + std::cos(M_PI * t));
    }
  }
  return scale_;
}

std::map<std::string, double> Scheduler::state() const {
  return {{"scale", scale_}, {"best", best_}, {"has_best", has_best_ ? 1.0 : 0.0}, {"bad_epochs", bad_epochs_}};
}

void Scheduler::load_state(const std::map<std::string, double>& s) {
  auto get = [&](const char* k) {
    auto it = s.find(k);
    if (it == s.end()) throw ValueError(std::string("scheduler state lacks '") + k + "'");
    return it->second;
  };
  scale_ = get("scale");
  best_ = get("best");
  has_best_ = get("has_best") != 0.0;
  bad_epochs_ = static_cast<int>(get("bad_epochs"));
}

}  // namespace tomograd::train
