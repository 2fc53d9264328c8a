// Metastasis configuration: every section decoded with unknown-key checks; folders made absolute.
#include <yaml-cpp/yaml.h>

#include "../common.hpp"
#include "../slice_task_config.hpp"
#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/threshold.hpp"
#include "tomograd/tasks/metastasis/pipeline.hpp"

namespace tomograd::tasks::metastasis {
namespace {

DataOptions read_data(ConfigReader r) {
  DataOptions d;
  r.get("dir", d.dir).get("images", d.images).get("labels", d.labels).get("cache_dir", d.cache_dir);
  r.get("val", d.val).get("test", d.test).get("split_seed", d.split_seed).get("patients_per_batch", d.patients_per_batch);
  r.get("balance_classes", d.balance_classes).get("min_slices", d.min_slices).get("threads", d.threads);
  r.get("skip_bad", d.skip_bad);
  r.finish();
  if (d.val < 0 || d.val >= 1) throw ConfigError(r.source() + ": data.val must be in [0, 1)");
  if (d.test < 0 || d.test >= 1) throw ConfigError(r.source() + ": data.test must be in [0, 1)");
  if (d.val + d.test >= 1) {
    throw ConfigError(r.source() + ": data.val + data.test must be below 1 (the rest of each class trains)");
  }
  if (d.patients_per_batch < 1) throw ConfigError(r.source() + ": data.patients_per_batch must be >= 1");
  if (d.min_slices < 1) throw ConfigError(r.source() + ": data.min_slices must be >= 1");
  return d;
}

EvalOptions read_eval(ConfigReader r) {
  EvalOptions e;
  r.get("threshold", e.threshold).get("bootstrap", e.bootstrap).get("top_slices", e.top_slices);
  r.finish();
  try {
    (void)eval::ThresholdRule::parse(e.threshold);
  } catch (const ValueError& ex) {
    throw ConfigError(r.source() + ": eval.threshold: " + ex.what());
  }
  if (e.bootstrap < 0) throw ConfigError(r.source() + ": eval.bootstrap must be >= 0");
  if (e.top_slices < 0) throw ConfigError(r.source() + ": eval.top_slices must be >= 0");
  return e;
}

}  // namespace

MetastasisConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  YAML::Node root = load_yaml_file(path);
  apply_overrides(root, overrides);
  if (!root.IsMap()) throw ConfigError(path.string() + ": expected a map of sections at the top level");
  tasks::detail::make_data_path_absolute(root, "dir");
  tasks::detail::make_data_path_absolute(root, "cache_dir");
  const std::string source = path.string();
  ConfigReader r(root, source);
  MetastasisConfig c = tasks::detail::read_slice_task_sections<MetastasisConfig>(r, read_data, read_eval);
  if (c.model.head.type != models::HeadType::kBinary || c.model.head.num_outputs != 1) {
    throw ConfigError(source + ": metastasis detection is binary: use model.head {type: binary, num_outputs: 1}");
  }
  if (c.loss.name != "bce") throw ConfigError(source + ": loss.name must be bce (patient-level, on the max slice logit)");
  const int64_t channels =
      (2 * c.prep.slices.context + 1) * static_cast<int64_t>(c.prep.preprocess.windows.size());
  if (c.model.in_channels != channels) {
    throw ConfigError(source + ": model.in_channels is " + std::to_string(c.model.in_channels) + " but the input has " +
                      std::to_string(channels) + " channels (windows x (2 x slices.context + 1))");
  }
  YAML::Emitter out;
  out << root;
  c.yaml = std::string(out.c_str()) + "\n";
  return c;
}

}  // namespace tomograd::tasks::metastasis
