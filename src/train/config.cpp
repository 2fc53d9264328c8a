#include "tomograd/train/config.hpp"

#include "tomograd/core/error.hpp"

namespace tomograd::train {

namespace {

// validate() messages name the key ("optim.lr must be > 0") but not the file; the reader knows
// the file. ValueError comes from helpers shared with the command line (parse_amp).
template <class Options>
void validate_from(const ConfigReader& reader, const Options& options) {
  try {
    validate(options);
  } catch (const ConfigError& e) {
    throw ConfigError(reader.source() + ": " + e.what());
  } catch (const ValueError& e) {
    throw ConfigError(reader.source() + ": " + e.what());
  }
}

}  // namespace

LossOptions read_loss_options(ConfigReader& r) {
  LossOptions o;
  r.get("name", o.name)
      .get("beta", o.beta)
      .get("pos_weight", o.pos_weight)
      .get("class_weights", o.class_weights)
      .get("label_smoothing", o.label_smoothing)
      .get("tasks", o.tasks)
      .get("classes", o.classes)
      .get("task_weights", o.task_weights);
  r.finish();
  validate_from(r, o);
  return o;
}

OptimOptions read_optim_options(ConfigReader& r) {
  OptimOptions o;
  r.get("name", o.name)
      .get("lr", o.lr)
      .get("weight_decay", o.weight_decay)
      .get("momentum", o.momentum)
      .get("nesterov", o.nesterov)
      .get("eps", o.eps)
      .get("foreach", o.foreach);
  // PyTorch spells the Adam coefficients as one pair, so configs do too.
  std::vector<double> betas;
  r.get("betas", betas);
  if (r.has("betas")) {
    if (betas.size() != 2) {
      throw ConfigError(r.source() + ": key '" + r.dotted("betas") + "' expected [beta1, beta2], got " +
                        std::to_string(betas.size()) + " values");
    }
    o.beta1 = betas[0];
    o.beta2 = betas[1];
  }
  r.finish();
  validate_from(r, o);
  return o;
}

SchedulerOptions read_scheduler_options(ConfigReader& r) {
  SchedulerOptions o;
  r.get("name", o.name)
      .get("mode", o.mode)
      .get("patience", o.patience)
      .get("factor", o.factor)
      .get("threshold", o.threshold)
      .get("min_lr", o.min_lr)
      .get("gamma", o.gamma)
      .get("step_size", o.step_size)
      .get("warmup_epochs", o.warmup_epochs)
      .get("total_epochs", o.total_epochs);
  r.finish();
  validate_from(r, o);
  return o;
}

TrainOptions read_train_options(ConfigReader& r) {
  TrainOptions o;
  r.get("epochs", o.epochs)
      .get("grad_clip", o.grad_clip)
      .get("accumulate", o.accumulate)
      .get("early_stopping_patience", o.early_stopping_patience)
      .get("monitor", o.monitor)
      .get("monitor_mode", o.monitor_mode)
      .get("device", o.device)
      .get("amp", o.amp)
      .get("channels_last", o.channels_last)
      .get("deterministic", o.deterministic)
      .get("freeze_batchnorm", o.freeze_batchnorm)
      .get("sync_batchnorm", o.sync_batchnorm)
      .get("seed", o.seed)
      .get("show_progress", o.show_progress);

  YAML::Node list;
  r.get("extra_best", list);
  if (list && !list.IsNull()) {
    if (!list.IsSequence()) {
      throw ConfigError(r.source() + ": key '" + r.dotted("extra_best") +
                        "' expected a list of {metric, mode} maps, e.g. [{metric: f1, mode: max}]");
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      ConfigReader item(list[i], r.source(), r.dotted("extra_best") + "[" + std::to_string(i) + "]");
      std::string metric, mode;
      item.require("metric", metric).require("mode", mode);
      item.finish();
      o.extra_best.emplace_back(std::move(metric), std::move(mode));
    }
  }

  ConfigReader l = r.child("loader");
  l.get("workers", o.loader.workers)
      .get("prefetch", o.loader.prefetch)
      .get("pin_memory", o.loader.pin_memory)
      .get("seed", o.loader.seed);
  l.finish();
  r.finish();
  validate_from(r, o);
  return o;
}

}  // namespace tomograd::train

namespace tomograd::train {

std::vector<CurriculumStage> read_curriculum(ConfigReader& root, const std::string& key) {
  YAML::Node list;
  root.get(key, list);
  std::vector<CurriculumStage> stages;
  if (!list || list.IsNull()) return stages;
  if (!list.IsSequence()) {
    throw ConfigError(root.source() + ": key '" + root.dotted(key) +
                      "' expected a list of stages, e.g. [{name: head, from_epoch: 0, trainable: [fc]}]");
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const std::string where = root.dotted(key) + "[" + std::to_string(i) + "]";
    ConfigReader item(list[i], root.source(), where);
    CurriculumStage s;
    item.require("from_epoch", s.from_epoch).get("name", s.name).require("trainable", s.trainable);
    YAML::Node lr;
    item.get("lr", lr);
    if (lr && !lr.IsNull()) {
      if (!lr.IsMap()) throw ConfigError(root.source() + ": key '" + where + ".lr' expected a map {prefix: rate}");
      for (const auto& kv : lr) {
        const std::string prefix = kv.first.as<std::string>();
        try {
          s.lr[prefix] = kv.second.as<double>();
        } catch (const YAML::Exception&) {
          throw ConfigError(root.source() + ": key '" + where + ".lr." + prefix + "' expected a number");
        }
      }
    }
    item.finish();
    if (s.name.empty()) s.name = "stage" + std::to_string(i + 1);
    stages.push_back(std::move(s));
  }
  try {
    Curriculum check(stages);
  } catch (const ConfigError& e) {
    throw ConfigError(root.source() + ": " + root.dotted(key) + ": " + e.what());
  }
  return stages;
}

}  // namespace tomograd::train
