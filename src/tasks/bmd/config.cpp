// BMD configuration: every section decoded with unknown-key checks; manifest paths made absolute.
#include <yaml-cpp/yaml.h>

#include "../common.hpp"
#include "../slice_task_config.hpp"
#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/tasks/bmd/pipeline.hpp"

namespace tomograd::tasks::bmd {
namespace {

DataOptions read_data(ConfigReader r) {
  DataOptions d;
  r.get("manifest", d.manifest).get("target", d.target).get("cache_dir", d.cache_dir);
  r.get("batch_size", d.batch_size).get("threads", d.threads);
  ConfigReader split = r.child("split");
  split.get("train", d.train).get("val", d.val).get("test", d.test).get("seed", d.split_seed);
  split.finish();
  r.finish();
  if (d.batch_size < 1) throw ConfigError(r.source() + ": data.batch_size must be >= 1");
  if (d.target.empty()) throw ConfigError(r.source() + ": data.target must name the target column");
  for (double f : {d.train, d.val, d.test}) {
    if (f < 0 || f > 1) throw ConfigError(r.source() + ": data.split fractions must be in [0, 1]");
  }
  if (d.train <= 0) throw ConfigError(r.source() + ": data.split.train must be > 0");
  if (std::abs(d.train + d.val + d.test - 1.0) > 1e-6) {
    throw ConfigError(r.source() + ": data.split.train + val + test must add up to 1");
  }
  return d;
}

EvalOptions read_eval(ConfigReader r) {
  EvalOptions e;
  r.get("bootstrap", e.bootstrap).get("confidence", e.confidence).get("collapse_ratio", e.collapse_ratio);
  r.finish();
  if (e.bootstrap < 0) throw ConfigError(r.source() + ": eval.bootstrap must be >= 0");
  if (e.confidence <= 0 || e.confidence >= 1) throw ConfigError(r.source() + ": eval.confidence must be in (0, 1)");
  if (e.collapse_ratio < 0) throw ConfigError(r.source() + ": eval.collapse_ratio must be >= 0");
  return e;
}

BmdConfig decode(YAML::Node root, const std::string& source, const std::filesystem::path& base) {
  if (!root || root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap()) throw ConfigError(source + ": expected a map of sections at the top level");
  // Manifest paths are relative to the working directory; store them absolute so the run's
  // config.yaml works from anywhere.
  tasks::detail::make_data_path_absolute(root, "manifest", base);
  tasks::detail::make_data_path_absolute(root, "cache_dir", base);
  ConfigReader r(root, source);
  BmdConfig c = tasks::detail::read_slice_task_sections<BmdConfig>(r, read_data, read_eval);
  const int64_t window = 2 * c.prep.slices.context + 1;
  const int64_t channels = window * static_cast<int64_t>(c.prep.preprocess.windows.size());
  if (c.model.in_channels != channels) {
    throw ConfigError(source + ": model.in_channels is " + std::to_string(c.model.in_channels) + " but the input has " +
                      std::to_string(channels) + " channels (" + std::to_string(c.prep.preprocess.windows.size()) +
                      " window(s) x " + std::to_string(window) + " stacked slices from slices.context)");
  }
  if (c.model.head.type != models::HeadType::kRegression || c.model.head.num_outputs != 1) {
    throw ConfigError(source + ": BMD is a single-target regression: use model.head {type: regression, num_outputs: 1}");
  }
  YAML::Emitter out;
  out << root;
  c.yaml = std::string(out.c_str()) + "\n";
  return c;
}

}  // namespace

BmdConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  YAML::Node root = load_yaml_file(path);
  apply_overrides(root, overrides);
  return decode(root, path.string(), std::filesystem::current_path());
}

BmdConfig parse_config(const std::string& text, const std::string& source, const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ": " + e.what());
  }
  apply_overrides(root, overrides);
  return decode(root, source, std::filesystem::current_path());
}

}  // namespace tomograd::tasks::bmd
