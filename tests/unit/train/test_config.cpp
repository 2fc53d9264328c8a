// YAML decoding of the loss, optim, scheduler and train sections.
#include <catch2/catch.hpp>

#include "tomograd/core/error.hpp"
#include "tomograd/train/config.hpp"

using namespace tomograd;
using namespace tomograd::train;

namespace {

// Decodes section @p key of @p yaml (a whole config file's text, "run.yaml") with @p read.
template <class Read>
auto decode(const std::string& yaml, const std::string& key, Read read) {
  ConfigReader root(YAML::Load(yaml), "run.yaml");
  ConfigReader section = root.child(key);
  return read(section);
}

// The message of the ConfigError thrown by @p f ("" when none was thrown).
template <class F>
std::string config_error(F f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("train config: an empty or absent section keeps every default", "[train][config]") {
  const LossOptions loss = decode("loss: {}", "loss", read_loss_options);
  const LossOptions loss_defaults;
  CHECK(loss.name == loss_defaults.name);
  CHECK(loss.beta == loss_defaults.beta);
  CHECK(loss.class_weights.empty());
  CHECK(loss.tasks == 0);

  const OptimOptions optim = decode("{}", "optim", read_optim_options);  // section absent
  CHECK(optim.name == "adamw");
  CHECK(optim.lr == 1e-4);
  CHECK(optim.beta1 == 0.9);
  CHECK(optim.beta2 == 0.999);
  CHECK_FALSE(optim.nesterov);

  const SchedulerOptions sched = decode("scheduler:", "scheduler", read_scheduler_options);  // null value
  CHECK(sched.name == "none");
  CHECK(sched.patience == 5);
  CHECK(sched.total_epochs == 50);

  const TrainOptions train = decode("train: {}", "train", read_train_options);
  const TrainOptions train_defaults;
  CHECK(train.epochs == train_defaults.epochs);
  CHECK(train.monitor == "val_loss");
  CHECK(train.extra_best.empty());
  CHECK(train.seed == 42);
  CHECK(train.loader.workers == train_defaults.loader.workers);
  CHECK(train.loader.prefetch == train_defaults.loader.prefetch);
}

TEST_CASE("train config: every key of loss and optim is read", "[train][config]") {
  const LossOptions l = decode(R"(
loss:
  name: cross_entropy
  beta: 0.5
  pos_weight: 3
  class_weights: [1, 2, 4]
  label_smoothing: 0.1
  tasks: 2
  classes: 3
  task_weights: [0.25, 0.75]
)",
                               "loss", read_loss_options);
  CHECK(l.name == "cross_entropy");
  CHECK(l.beta == 0.5);
  CHECK(l.pos_weight == 3.0);
  CHECK(l.class_weights == std::vector<double>{1, 2, 4});
  CHECK(l.label_smoothing == 0.1);
  CHECK(l.tasks == 2);
  CHECK(l.classes == 3);
  CHECK(l.task_weights == std::vector<double>{0.25, 0.75});

  const OptimOptions o = decode(R"(
optim:
  name: sgd
  lr: 0.01
  weight_decay: 1.0e-5
  momentum: 0.8
  nesterov: true
  betas: [0.5, 0.9]
  eps: 1.0e-6
)",
                                "optim", read_optim_options);
  CHECK(o.name == "sgd");
  CHECK(o.lr == 0.01);
  CHECK(o.weight_decay == 1e-5);
  CHECK(o.momentum == 0.8);
  CHECK(o.nesterov);
  CHECK(o.beta1 == 0.5);
  CHECK(o.beta2 == 0.9);
  CHECK(o.eps == 1e-6);
}

TEST_CASE("train config: every key of scheduler and train is read", "[train][config]") {
  const SchedulerOptions s = decode(R"(
scheduler:
  name: plateau
  mode: max
  patience: 2
  factor: 0.25
  threshold: 0.01
  min_lr: 1.0e-7
  gamma: 0.5
  step_size: 3
  warmup_epochs: 4
  total_epochs: 20
)",
                                    "scheduler", read_scheduler_options);
  CHECK(s.name == "plateau");
  CHECK(s.mode == "max");
  CHECK(s.patience == 2);
  CHECK(s.factor == 0.25);
  CHECK(s.threshold == 0.01);
  CHECK(s.min_lr == 1e-7);
  CHECK(s.gamma == 0.5);
  CHECK(s.step_size == 3);
  CHECK(s.warmup_epochs == 4);
  CHECK(s.total_epochs == 20);

  const TrainOptions t = decode(R"(
train:
  epochs: 3
  grad_clip: 1.5
  accumulate: 2
  early_stopping_patience: 4
  monitor: auc
  monitor_mode: max
  extra_best: [{metric: f1, mode: max}, {metric: mae, mode: min}]
  device: cpu
  amp: bf16
  channels_last: true
  deterministic: true
  seed: 7
  show_progress: false
  loader: {workers: 0, prefetch: 2, pin_memory: true, seed: 11}
)",
                                "train", read_train_options);
  CHECK(t.epochs == 3);
  CHECK(t.grad_clip == 1.5);
  CHECK(t.accumulate == 2);
  CHECK(t.early_stopping_patience == 4);
  CHECK(t.monitor == "auc");
  CHECK(t.monitor_mode == "max");
  REQUIRE(t.extra_best.size() == 2);
  CHECK(t.extra_best[0] == std::make_pair(std::string("f1"), std::string("max")));
  CHECK(t.extra_best[1] == std::make_pair(std::string("mae"), std::string("min")));
  CHECK(t.device == "cpu");
  CHECK(t.amp == "bf16");
  CHECK(t.channels_last);
  CHECK(t.deterministic);
  CHECK(t.seed == 7);
  CHECK_FALSE(t.show_progress);
  CHECK(t.loader.workers == 0);
  CHECK(t.loader.prefetch == 2);
  CHECK(t.loader.pin_memory);
  CHECK(t.loader.seed == 11);
}

TEST_CASE("train config: unknown keys name the file and the dotted path", "[train][config]") {
  const std::string optim = config_error([] { decode("optim: {lrr: 0.1}", "optim", read_optim_options); });
  CHECK_THAT(optim, Catch::Contains("run.yaml") && Catch::Contains("unknown key 'optim.lrr'") &&
                        Catch::Contains("lr") && Catch::Contains("betas"));
  // The Adam coefficients are one key, as in PyTorch.
  CHECK_THAT(config_error([] { decode("optim: {beta1: 0.8}", "optim", read_optim_options); }),
             Catch::Contains("unknown key 'optim.beta1'"));
  CHECK_THAT(config_error([] { decode("loss: {nmae: mse}", "loss", read_loss_options); }),
             Catch::Contains("unknown key 'loss.nmae'"));
  CHECK_THAT(config_error([] { decode("scheduler: {patience: 1, pateince: 2}", "scheduler", read_scheduler_options); }),
             Catch::Contains("unknown key 'scheduler.pateince'"));
  CHECK_THAT(config_error([] { decode("train: {loader: {worker: 1}}", "train", read_train_options); }),
             Catch::Contains("run.yaml") && Catch::Contains("unknown key 'train.loader.worker'"));
  CHECK_THAT(config_error([] {
               decode("train: {extra_best: [{metric: f1, mode: max, min_delta: 0}]}", "train", read_train_options);
             }),
             Catch::Contains("unknown key 'train.extra_best[0].min_delta'"));
}

TEST_CASE("train config: values of the wrong type or shape are errors", "[train][config]") {
  CHECK_THAT(config_error([] { decode("optim: {lr: fast}", "optim", read_optim_options); }),
             Catch::Contains("run.yaml: key 'optim.lr' expected a number, got 'fast'"));
  CHECK_THAT(config_error([] { decode("train: {epochs: 2.5}", "train", read_train_options); }),
             Catch::Contains("key 'train.epochs' expected an integer, got '2.5'"));
  CHECK_THAT(config_error([] { decode("optim: {nesterov: maybe}", "optim", read_optim_options); }),
             Catch::Contains("key 'optim.nesterov' expected a boolean"));
  CHECK_THAT(config_error([] { decode("loss: {class_weights: 2}", "loss", read_loss_options); }),
             Catch::Contains("key 'loss.class_weights' expected a list"));
  CHECK_THAT(config_error([] { decode("optim: {betas: [0.9]}", "optim", read_optim_options); }),
             Catch::Contains("key 'optim.betas' expected [beta1, beta2], got 1 values"));
  CHECK_THAT(config_error([] { decode("train: {seed: -1}", "train", read_train_options); }),
             Catch::Contains("key 'train.seed' expected an integer"));
  CHECK_THAT(config_error([] { decode("train: {loader: 4}", "train", read_train_options); }),
             Catch::Contains("key 'train.loader' must be a section"));
  CHECK_THAT(config_error([] { decode("train: {extra_best: f1}", "train", read_train_options); }),
             Catch::Contains("key 'train.extra_best' expected a list of {metric, mode} maps"));
  CHECK_THAT(config_error([] { decode("train: {extra_best: [f1]}", "train", read_train_options); }),
             Catch::Contains("'train.extra_best[0]' must be a map"));
  CHECK_THAT(config_error([] { decode("train: {extra_best: [{metric: f1}]}", "train", read_train_options); }),
             Catch::Contains("missing required key 'train.extra_best[0].mode'"));
}

TEST_CASE("train config: invalid values fail validation with the file name", "[train][config]") {
  CHECK_THAT(config_error([] { decode("optim: {lr: -0.001}", "optim", read_optim_options); }),
             Catch::StartsWith("run.yaml: ") && Catch::Contains("optim.lr must be > 0"));
  CHECK_THAT(config_error([] { decode("optim: {name: lion}", "optim", read_optim_options); }),
             Catch::Contains("run.yaml") && Catch::Contains("unknown optimizer 'lion'"));
  CHECK_THAT(config_error([] { decode("optim: {betas: [0.9, 1.5]}", "optim", read_optim_options); }),
             Catch::Contains("run.yaml") && Catch::Contains("beta"));
  CHECK_THAT(config_error([] { decode("loss: {name: focal}", "loss", read_loss_options); }),
             Catch::StartsWith("run.yaml: ") && Catch::Contains("unknown loss 'focal'"));
  CHECK_THAT(config_error([] { decode("loss: {tasks: 2, task_weights: [1, 2, 3]}", "loss", read_loss_options); }),
             Catch::Contains("loss.task_weights has 3 values for 2 tasks"));
  CHECK_THAT(config_error([] { decode("scheduler: {factor: 2}", "scheduler", read_scheduler_options); }),
             Catch::StartsWith("run.yaml: ") && Catch::Contains("scheduler.factor"));
  CHECK_THAT(config_error([] { decode("train: {epochs: 0}", "train", read_train_options); }),
             Catch::StartsWith("run.yaml: ") && Catch::Contains("train.epochs must be >= 1"));
  CHECK_THAT(config_error([] { decode("train: {extra_best: [{metric: f1, mode: up}]}", "train", read_train_options); }),
             Catch::Contains("mode of 'f1' must be min or max"));
  // parse_amp throws ValueError; the decoder reports it as a config error with the file.
  CHECK_THAT(config_error([] { decode("train: {amp: fp8}", "train", read_train_options); }),
             Catch::StartsWith("run.yaml: ") && Catch::Contains("fp8"));
}
