// Lumbar run configuration (every section checked, unknown keys rejected) and the stratified
// group K-fold split by study.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <random>

#include "../common.hpp"
#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/random.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/tasks/lumbar/config.hpp"

namespace tomograd::tasks::lumbar {

int64_t InputOptions::channels() const {
  const int64_t window = 2 * context + 1;
  if (kind == "sagittal") return 5 * 3 * window;
  if (kind == "axial") return 5 * window;
  if (kind == "combined") return 5 * 4 * window;
  return 2;
}

bool shares_levels(const InputOptions& in) { return in.shared_levels && in.kind != "volume"; }

int64_t InputOptions::model_channels() const { return shares_levels(*this) ? channels() / 5 : channels(); }

int64_t InputOptions::model_tasks() const { return shares_levels(*this) ? 5 : 25; }

int64_t InputOptions::metadata_dim() const {
  if (shares_levels(*this)) return 5;
  return kind == "volume" && metadata ? 4 : 0;
}

namespace {

DataOptions read_data(ConfigReader r) {
  DataOptions d;
  r.get("dir", d.dir).get("folds", d.folds).get("fold_seed", d.fold_seed).get("batch_size", d.batch_size);
  r.get("threads", d.threads);
  r.finish();
  if (d.folds < 2) throw ConfigError(r.source() + ": data.folds must be >= 2 (cross-validation by study)");
  if (d.batch_size < 1) throw ConfigError(r.source() + ": data.batch_size must be >= 1");
  return d;
}

InputOptions read_input(ConfigReader r) {
  InputOptions o;
  r.get("kind", o.kind).get("crop_mm", o.crop_mm).get("crop_px", o.crop_px).get("context", o.context);
  r.get("jitter_mm", o.jitter_mm).get("rotate_deg", o.rotate_deg).get("predicted_points", o.predicted_points).get("volume_shape", o.volume_shape).get("volume_spacing_mm", o.volume_spacing_mm);
  r.get("metadata", o.metadata).get("gain", o.gain).get("noise", o.noise).get("shared_levels", o.shared_levels);
  r.get("flip_lr", o.flip_lr).get("elastic_p", o.elastic_p).get("elastic_alpha_px", o.elastic_alpha_px);
  r.get("elastic_sigma_px", o.elastic_sigma_px).get("rotate3d_deg", o.rotate3d_deg);
  r.finish();
  const std::string& s = r.source();
  if (o.kind != "sagittal" && o.kind != "axial" && o.kind != "combined" && o.kind != "volume") {
    throw ConfigError(s + ": input.kind must be sagittal, axial, combined or volume, got '" + o.kind + "'");
  }
  if (o.predicted_points < 0 || o.predicted_points > 1) throw ConfigError(s + ": input.predicted_points must be in [0, 1]");
  if (o.crop_mm <= 0 || o.crop_px < 8) throw ConfigError(s + ": input.crop_mm must be > 0 and input.crop_px >= 8");
  if (o.context < 0 || o.context > 4) throw ConfigError(s + ": input.context must be in 0..4");
  if (o.jitter_mm < 0 || o.gain < 0 || o.noise < 0 || o.rotate_deg < 0 || o.rotate_deg > 90) {
    throw ConfigError(s + ": input.jitter_mm, input.gain and input.noise must be >= 0, input.rotate_deg in [0, 90]");
  }
  if (o.flip_lr < 0 || o.flip_lr > 1 || o.elastic_p < 0 || o.elastic_p > 1) {
    throw ConfigError(s + ": input.flip_lr and input.elastic_p are probabilities in [0, 1]");
  }
  if (o.elastic_alpha_px < 0 || o.elastic_sigma_px <= 0 || o.rotate3d_deg < 0 || o.rotate3d_deg > 90) {
    throw ConfigError(s + ": input.elastic_alpha_px must be >= 0, input.elastic_sigma_px > 0, input.rotate3d_deg in [0, 90]");
  }
  if (o.volume_shape.size() != 3 || o.volume_spacing_mm.size() != 3) {
    throw ConfigError(s + ": input.volume_shape and input.volume_spacing_mm need 3 values (L-R, S-I, A-P)");
  }
  for (int i = 0; i < 3; ++i) {
    if (o.volume_shape[i] < 4 || o.volume_spacing_mm[i] <= 0) {
      throw ConfigError(s + ": input.volume_shape values must be >= 4 and input.volume_spacing_mm values > 0");
    }
  }
  return o;
}

LocalizerOptions read_localizer(ConfigReader r) {
  LocalizerOptions o;
  o.model.arch = "simple_cnn";
  o.model.in_channels = 3;
  o.model.head.type = models::HeadType::kRegression;
  o.model.head.num_outputs = 11;
  o.model.simple_cnn.widths = {16, 32, 64};
  o.model.simple_cnn.hidden = 64;
  r.get("size", o.size).get("epochs", o.epochs).get("lr", o.lr).get("batch_size", o.batch_size);
  if (r.has("model")) {
    ConfigReader m = r.child("model");
    o.model = models::decode_model_spec(m);
  }
  r.finish();
  o.model.simple_cnn.input_size = {o.size, o.size};
  const std::string& s = r.source();
  if (o.size < 16) throw ConfigError(s + ": localizer.size must be >= 16");
  if (o.epochs < 1 || o.lr <= 0 || o.batch_size < 1) {
    throw ConfigError(s + ": localizer.epochs and localizer.batch_size must be >= 1 and localizer.lr > 0");
  }
  if (o.model.in_channels != 3 || o.model.head.type != models::HeadType::kRegression ||
      o.model.head.num_outputs != 11) {
    throw ConfigError(s + ": localizer.model needs in_channels 3 and head {type: regression, num_outputs: 11} "
                          "(x, y of five levels and the offset to the midline)");
  }
  return o;
}

}  // namespace

LumbarConfig load_config(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  YAML::Node root = load_yaml_file(path);
  apply_overrides(root, overrides);
  if (!root.IsMap()) throw ConfigError(path.string() + ": expected a map of sections at the top level");
  tasks::detail::make_data_path_absolute(root, "dir");
  const std::string source = path.string();
  LumbarConfig c;
  ConfigReader r(root, source);
  c.data = read_data(r.child("data"));
  c.input = read_input(r.child("input"));
  c.localizer = read_localizer(r.child("localizer"));
  r.get("consistency", c.consistency);
  static_cast<TrainingSections&>(c) = read_training_sections(r);
  r.finish();
  if (c.consistency < 0) throw ConfigError(source + ": consistency must be >= 0");
  const auto& h = c.model.head;
  const bool shared = c.input.model_tasks() == 5;
  const std::string how = " for input.kind " + c.input.kind + (shared ? " with shared levels" : "");
  if (h.type != models::HeadType::kMultiOutput || h.num_tasks != c.input.model_tasks() || h.num_classes != 3) {
    throw ConfigError(source + ": model.head must be {type: multioutput, num_tasks: " +
                      std::to_string(c.input.model_tasks()) + ", num_classes: 3}" + how +
                      (shared ? " (5 conditions x 3 grades per level)" : " (5 conditions x 5 levels x 3 grades)"));
  }
  if (c.model.in_channels != c.input.model_channels()) {
    throw ConfigError(source + ": model.in_channels is " + std::to_string(c.model.in_channels) + " but" + how +
                      " the model takes " + std::to_string(c.input.model_channels()) + " channels");
  }
  if (h.metadata_dim != c.input.metadata_dim()) {
    throw ConfigError(source + ": model.head.metadata_dim must be " + std::to_string(c.input.metadata_dim()) + how +
                      (shared ? " (the level, one-hot)" : c.input.metadata ? "" : " without metadata"));
  }
  // Any registered 3D architecture (resnet3d_*, densenet*_3d, segresnet3d, dynunet3d, vit3d, swinunetr3d).
  models::register_builtin_models();
  const auto& registry = models::ModelRegistry::global();
  const bool volume_model = registry.contains(c.model.arch) && registry.get(c.model.arch).spatial_dims == 3;
  if (volume_model != (c.input.kind == "volume")) {
    throw ConfigError(source + ": input.kind volume needs a 3D model (resnet3d_*, densenet121_3d, segresnet3d, "
                               "dynunet3d, vit3d, swinunetr3d) and the 2.5D kinds a 2D one; got " +
                      c.model.arch + " for " + c.input.kind);
  }
  if (c.loss.name != "cross_entropy" || c.loss.tasks != 25 || c.loss.classes != 3) {
    throw ConfigError(source + ": loss must be {name: cross_entropy, tasks: 25, classes: 3} "
                               "(class_weights [1, 2, 4] as the competition weighs grades)");
  }
  YAML::Emitter out;
  out << root;
  c.yaml = std::string(out.c_str()) + "\n";
  return c;
}

std::vector<int> assign_folds(const std::vector<StudyLabels>& labels, int folds, uint64_t seed) {
  if (folds < 2) throw ValueError("folds must be >= 2, got " + std::to_string(folds));
  if (static_cast<std::size_t>(folds) > labels.size()) {
    throw ValueError(std::to_string(folds) + " folds need at least as many studies, there are " +
                     std::to_string(labels.size()));
  }
  std::map<int, std::vector<std::size_t>> strata;  // worst spinal canal grade -> studies
  for (std::size_t i = 0; i < labels.size(); ++i) {
    int worst = 0;
    for (int l = 0; l < 5; ++l) worst = std::max(worst, labels[i].grades[static_cast<std::size_t>(l)]);
    strata[worst].push_back(i);
  }
  std::mt19937_64 rng(derive_seed(seed, 0x10f01d));
  std::vector<int> fold(labels.size(), 0);
  int next = 0;
  for (auto& [grade, members] : strata) {
    seeded_shuffle(members, rng);  // not std::shuffle: its draws differ between standard libraries
    for (std::size_t i : members) fold[i] = next++ % folds;
  }
  return fold;
}

}  // namespace tomograd::tasks::lumbar
