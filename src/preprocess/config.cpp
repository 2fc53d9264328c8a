#include "tomograd/preprocess/config.hpp"

#include <torch/torch.h>

#include <algorithm>

#include "tomograd/core/error.hpp"
#include "transform_fields.hpp"

namespace tomograd::preprocess {

namespace {

template <class Enum, class Parse>
void read_enum(ConfigReader& r, const std::string& key, Enum& out, Parse parse) {
  if (!r.has(key)) {
    std::string ignored;
    r.get(key, ignored);
    return;
  }
  std::string text;
  r.get(key, text);
  try {
    out = parse(text);
  } catch (const ValueError& e) {
    throw ConfigError(r.source() + ": key '" + r.dotted(key) + "': " + e.what());
  }
}

PreprocessOptions read_preprocess(ConfigReader r) {
  PreprocessOptions o;
  r.get("reorient", o.reorient);
  if (r.has("spacing_mm")) {
    std::vector<double> s;
    r.get("spacing_mm", s);
    if (s.size() != 3) throw ConfigError(r.source() + ": key '" + r.dotted("spacing_mm") + "' expected [z, y, x]");
    o.spacing_mm = {s[0], s[1], s[2]};
  } else {
    r.get("spacing_mm", o.reorient);  // marks the key as known
  }
  {
    ConfigReader b = r.child("brain_extraction");
    b.get("enabled", o.brain_extraction)
        .get("head_threshold_hu", o.brain.head_threshold_hu)
        .get("head_opening_mm", o.brain.head_opening_mm)
        .get("brain_low_hu", o.brain.brain_low_hu)
        .get("brain_high_hu", o.brain.brain_high_hu)
        .get("bone_threshold_hu", o.brain.bone_threshold_hu)
        .get("bone_dilation_mm", o.brain.bone_dilation_mm)
        .get("opening_radius_mm", o.brain.opening_radius_mm)
        .get("closing_radius_mm", o.brain.closing_radius_mm)
        .get("margin_mm", o.brain.margin_mm)
        .get("min_volume_ml", o.brain.min_volume_ml)
        .get("mask_outside", o.mask_outside);
    b.finish();
  }
  r.get("windows", o.windows);
  {
    ConfigReader s = r.child("resize");
    s.get("height", o.height).get("width", o.width).get("keep_aspect", o.keep_aspect);
    read_enum(s, "interpolation", o.interpolation, parse_interpolation);
    s.finish();
  }
  {
    ConfigReader c = r.child("crop");
    c.get("height", o.crop_height).get("width", o.crop_width);
    read_enum(c, "mode", o.crop_mode, parse_crop_mode);
    c.finish();
  }
  {
    ConfigReader n = r.child("normalize");
    read_enum(n, "method", o.normalize.method, parse_normalize_method);
    n.get("within_mask", o.normalize.within_mask)
        .get("outside_value", o.normalize.outside_value)
        .get("mean", o.normalize.mean)
        .get("std", o.normalize.std)
        .get("eps", o.normalize.eps)
        .get("percentiles", o.normalize.percentiles);
    n.finish();
  }
  {
    ConfigReader q = r.child("quality");
    q.get("enabled", o.quality.enabled)
        .get("min_brain_fraction", o.quality.min_brain_fraction)
        .get("min_contrast_hu", o.quality.min_contrast_hu)
        .get("asymmetry_keep", o.quality.asymmetry_keep)
        .get("smooth_mm", o.quality.smooth_mm);
    q.finish();
  }
  r.finish();
  return o;
}

SliceOptions read_slices(ConfigReader r) {
  SliceOptions o;
  read_enum(r, "selection", o.selection.mode, parse_slice_selection);
  r.get("count", o.selection.count).get("context", o.context).get("step", o.step);
  r.finish();
  return o;
}

AugmentConfig read_augment(ConfigReader r) {
  AugmentConfig a;
  r.get("enabled", a.enabled);
  YAML::Node list;
  r.get("policies", list);
  if (list && !list.IsNull()) {
    if (!list.IsSequence()) throw ConfigError(r.source() + ": key '" + r.dotted("policies") + "' expected a list of policies");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string path = r.dotted("policies") + "[" + std::to_string(i) + "]";
      ConfigReader pr(list[i], r.source(), path);
      PolicyRule rule;
      pr.require("label", rule.label).get("p", rule.p).get("slice_jitter", rule.slice_jitter);
      YAML::Node transforms;
      pr.get("transforms", transforms);
      if (transforms && !transforms.IsNull()) {
        if (!transforms.IsSequence()) throw ConfigError(r.source() + ": key '" + path + ".transforms' expected a list");
        for (std::size_t k = 0; k < transforms.size(); ++k) {
          ConfigReader tr(transforms[k], r.source(), path + ".transforms[" + std::to_string(k) + "]");
          rule.transforms.push_back(read_transform(tr));
        }
      }
      pr.finish();
      a.policies.push_back(std::move(rule));
    }
  }
  r.finish();
  return a;
}

}  // namespace

TransformConfig read_transform(ConfigReader& t) {
  std::string name;
  t.require("name", name);
  const auto& names = transform_names();
  const auto it = std::find(names.begin(), names.end(), name);
  if (it == names.end()) {
    std::string valid;
    for (const auto& n : names) valid += (valid.empty() ? "" : ", ") + n;
    throw ConfigError(t.source() + ": key '" + t.dotted("name") + "': unknown transform '" + name + "' (valid: " + valid + ")");
  }
  TransformConfig config = read_transform_options(static_cast<std::size_t>(it - names.begin()), t);
  t.finish();
  validate_transform(config, t.source() + ": " + t.dotted("name").substr(0, t.dotted("name").size() - 5));
  return config;
}

void PreprocessConfig::validate() const {
  preprocess.validate();
  slices.validate();
  augment.validate();
}

PreprocessConfig read_preprocess_config(ConfigReader& root) {
  PreprocessConfig c;
  c.preprocess = read_preprocess(root.child("preprocess"));
  c.slices = read_slices(root.child("slices"));
  c.augment = read_augment(root.child("augment"));
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(root.source() + ": " + e.what());
  }
  return c;
}

PreprocessConfig load_preprocess_config(const std::filesystem::path& path, const std::vector<std::string>& overrides) {
  YAML::Node root = load_yaml_file(path);
  apply_overrides(root, overrides);
  ConfigReader reader(root, path.string());
  PreprocessConfig c = read_preprocess_config(reader);
  reader.finish();
  return c;
}

}  // namespace tomograd::preprocess
