#pragma once
/// @file Decoding of the training engine's config sections (`loss`, `optim`, `scheduler`,
/// `train`) into their option structs: the only place in this layer that reads YAML.
///
/// Keys are the struct fields' names; absent keys keep the struct's defaults:
///
/// ```yaml
/// loss:
///   name: cross_entropy         # mse | smooth_l1 | bce | cross_entropy
///   beta: 1.0                   # smooth_l1
///   pos_weight: 1.0             # bce
///   class_weights: [1.0, 2.0]   # cross_entropy ([] = equal)
///   label_smoothing: 0.0
///   tasks: 0                    # multi-output: T tasks of C classes (0 = single task)
///   classes: 0
///   task_weights: []
/// optim:
///   name: adamw                 # adamw | adam | sgd
///   lr: 1.0e-4
///   weight_decay: 0.0
///   momentum: 0.9               # sgd
///   nesterov: false             # sgd
///   betas: [0.9, 0.999]         # adam/adamw
///   eps: 1.0e-8
/// scheduler:
///   name: none                  # none | plateau | exponential | step | cosine
///   mode: min                   # plateau: min (a loss) or max (a score)
///   patience: 5
///   factor: 0.5
///   threshold: 1.0e-4
///   min_lr: 0.0
///   gamma: 0.95                 # exponential / step
///   step_size: 10               # step
///   warmup_epochs: 0            # cosine
///   total_epochs: 50            # cosine
/// train:
///   epochs: 10
///   grad_clip: 0.0              # max gradient norm (0 = off)
///   accumulate: 1
///   early_stopping_patience: 0  # 0 = off
///   monitor: val_loss
///   monitor_mode: min
///   extra_best: [{metric: f1, mode: max}]   # each writes checkpoints/best_<metric>.pt
///   device: auto                # auto | cpu | cuda | cuda:N
///   amp: off                    # off | bf16 | fp16 (CUDA only)
///   channels_last: false
///   deterministic: false
///   seed: 42
///   show_progress: true
///   loader: {workers: 2, prefetch: 4, pin_memory: false, seed: 0}
/// ```
///
/// Each reader reads its section, rejects unknown keys (ConfigReader::finish, naming the dotted
/// path, e.g. "run.yaml: unknown key 'optim.lrr'") and validates the struct, rethrowing its
/// errors as ConfigError prefixed with the file name.
#include "tomograd/core/config.hpp"
#include "tomograd/train/curriculum.hpp"
#include "tomograd/train/loss.hpp"
#include "tomograd/train/optim.hpp"
#include "tomograd/train/trainer.hpp"

namespace tomograd::train {

/// Decodes a `loss:` map (@p reader is the reader of that map, e.g. root.child("loss")).
/// Throws ConfigError (unknown key, wrong type, invalid value) naming the file and key.
LossOptions read_loss_options(ConfigReader& reader);

/// Decodes an `optim:` map; `betas` is a list of two numbers [beta1, beta2].
/// Throws ConfigError naming the file and key.
OptimOptions read_optim_options(ConfigReader& reader);

/// Decodes a `scheduler:` map. Throws ConfigError naming the file and key.
SchedulerOptions read_scheduler_options(ConfigReader& reader);

/// Decodes a `train:` map, with its `loader:` map (LoaderOptions) and `extra_best` as a list of
/// {metric, mode} maps (both keys required). Throws ConfigError naming the file and key, e.g.
/// "run.yaml: missing required key 'train.extra_best[1].mode'".
TrainOptions read_train_options(ConfigReader& reader);

/// Reads the list under @p key of @p root (absent = no curriculum):
///   curriculum:
///     - {name: head_only, from_epoch: 0, trainable: [fc, head_hidden], lr: {fc: 5.0e-5, head_hidden: 5.0e-5}}
///     - {name: layer4, from_epoch: 5, trainable: [fc, head_hidden, layer4], lr: {"": 1.0e-5}}
/// Each stage: from_epoch and trainable required (prefixes, "*" = everything), name (default
/// stageN), lr by parameter prefix. Checked as Curriculum's constructor does. Throws ConfigError
/// with the dotted key, e.g. "curriculum[1].trainable".
std::vector<CurriculumStage> read_curriculum(ConfigReader& root, const std::string& key = "curriculum");

}  // namespace tomograd::train
