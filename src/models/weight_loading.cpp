#include "tomograd/models/weight_loading.hpp"

#include <algorithm>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"

namespace tomograd::models {

namespace {

// Wrappers that prefix every key: nn.DataParallel / DistributedDataParallel ("module."),
// training frameworks such as Lightning ("model.", "state_dict."), torch.compile ("_orig_mod."),
// feature-extractor wrappers ("backbone.", e.g. RadImageNet's released models).
const std::vector<std::string> kWrapperPrefixes = {"module.", "model.", "state_dict.", "_orig_mod.", "backbone."};

// torchvision's ResNet children in order: a backbone saved as
// nn.Sequential(*list(resnet.children())[:-1]) (RadImageNet's PyTorch release) names its
// parameters "0.weight" (conv1), "1.*" (bn1), "4.*" ... "7.*" (layer1 ... layer4).
const std::vector<std::string> kResNetChildren = {"conv1",  "bn1",    "relu",   "maxpool", "layer1",
                                                  "layer2", "layer3", "layer4", "avgpool", "fc"};

// "4.0.conv1.weight" -> "layer1.0.conv1.weight"; nullopt when @p key does not start with a
// child index.
std::optional<std::string> resnet_child_name(const std::string& key) {
  const auto dot = key.find('.');
  if (dot == 0 || dot == std::string::npos || dot > 2) return std::nullopt;
  if (!std::all_of(key.begin(), key.begin() + static_cast<std::ptrdiff_t>(dot), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  const auto index = static_cast<std::size_t>(std::stoi(key.substr(0, dot)));
  if (index >= kResNetChildren.size()) return std::nullopt;
  return kResNetChildren[index] + key.substr(dot);
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shape_text(const std::vector<int64_t>& shape) { return shape_string(shape); }

// @p key itself if @p known accepts it, else @p key with wrapper prefixes stripped one at a
// time until @p known accepts it; nullopt when it never does.
template <typename Known>
std::optional<std::string> resolve_key(std::string key, const Known& known) {
  for (;;) {
    if (known(key)) return key;
    if (auto renamed = resnet_child_name(key); renamed && known(*renamed)) return renamed;
    auto prefix = std::find_if(kWrapperPrefixes.begin(), kWrapperPrefixes.end(),
                               [&key](const std::string& p) { return starts_with(key, p); });
    if (prefix == kWrapperPrefixes.end()) return std::nullopt;
    key = key.substr(prefix->size());
  }
}

struct Plan {
  WeightLoadReport report;
  std::vector<std::pair<std::string, torch::Tensor>> copies;   // model key -> file tensor
  std::vector<std::pair<std::string, torch::Tensor>> adapted;  // model key -> adapted tensor
  bool reset_head = false;
};

Plan plan_load(const Model& model, const StateDict& weights, const WeightLoadOptions& options) {
  Plan plan;
  WeightLoadReport& r = plan.report;
  const StateDict target = module_state_dict(model);

  // File key -> model key; when two file keys map to the same model key, the first one wins.
  std::unordered_map<std::string, std::string> source_of;  // model key -> file key
  for (const auto& item : weights) {
    auto key = resolve_key(item.key(), [&target](const std::string& k) { return target.contains(k); });
    if (!key || source_of.count(*key)) {
      r.unexpected.push_back(item.key());
    } else {
      source_of.emplace(*key, item.key());
    }
  }

  const std::string input_key = model.input_conv() + ".weight";
  std::vector<std::string> head_prefixes;
  for (const auto& m : model.head_modules()) head_prefixes.push_back(m + ".");
  auto is_head = [&](const std::string& key) {
    for (const auto& p : head_prefixes) {
      if (starts_with(key, p)) return true;
    }
    return false;
  };

  bool head_mismatch = false;
  for (const auto& item : target) {
    const std::string& key = item.key();
    auto it = source_of.find(key);
    if (it == source_of.end()) {
      r.missing.push_back(key);
      continue;
    }
    const torch::Tensor& file = weights[it->second];
    const torch::Tensor& mine = item.value();
    if (file.sizes() == mine.sizes()) {
      r.matched.push_back(key);
      plan.copies.emplace_back(key, file);
      continue;
    }
    ShapeMismatch m{key, mine.sizes().vec(), file.sizes().vec(), MismatchAction::kSkipped};
    const bool same_kernel = file.dim() == mine.dim() && file.dim() >= 3 && file.size(0) == mine.size(0) &&
                             file.sizes().slice(2) == mine.sizes().slice(2);
    if (key == input_key && options.adapt_input_channels && same_kernel) {
      m.action = MismatchAction::kAdapted;
      plan.adapted.emplace_back(key, adapt_input_conv(file, mine.size(1), options.input_channel_mode));
    } else if (is_head(key) && options.reinit_head) {
      head_mismatch = true;
    }
    r.mismatched.push_back(m);
  }

  if (head_mismatch) {
    // One head, one initialization: parameters of the head that happened to fit (a bias of the
    // same length) are not mixed with fresh ones.
    plan.reset_head = true;
    std::vector<std::string> kept;
    for (const auto& key : r.matched) {
      if (!is_head(key)) {
        kept.push_back(key);
        continue;
      }
      auto shape = target[key].sizes().vec();
      r.mismatched.push_back({key, shape, shape, MismatchAction::kReinitialized});
    }
    r.matched = kept;
    std::vector<std::pair<std::string, torch::Tensor>> copies;
    for (auto& c : plan.copies) {
      if (!is_head(c.first)) copies.push_back(std::move(c));
    }
    plan.copies = std::move(copies);
    for (auto& m : r.mismatched) {
      if (is_head(m.key)) m.action = MismatchAction::kReinitialized;
    }
  }
  return plan;
}

template <typename List>
std::string first_names(const List& names, size_t limit = 5) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < limit; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > limit) s += ", ... (" + std::to_string(names.size() - limit) + " more)";
  return s;
}

void enforce(const Model& model, const WeightLoadReport& r, const WeightLoadOptions& options, size_t file_keys) {
  const std::string source = r.source.empty() ? "weights" : r.source;
  if (file_keys > 0 && r.matched.empty() &&
      std::none_of(r.mismatched.begin(), r.mismatched.end(),
                   [](const ShapeMismatch& m) { return m.action == MismatchAction::kAdapted; })) {
    const auto target = module_state_dict(model);
    throw ValueError(source + ": no tensor name matches the model (file has e.g. '" +
                     (r.unexpected.empty() ? std::string("?") : r.unexpected.front()) + "', the model expects e.g. '" +
                     (target.is_empty() ? std::string("?") : target.keys().front()) +
                     "'); is it a checkpoint of another architecture?");
  }
  if (!options.strict) return;
  const bool head_reset = std::any_of(r.mismatched.begin(), r.mismatched.end(),
                                      [](const ShapeMismatch& m) { return m.action == MismatchAction::kReinitialized; });
  std::vector<std::string> head_prefixes;
  for (const auto& m : model.head_modules()) head_prefixes.push_back(m + ".");
  std::vector<std::string> missing, skipped;
  for (const auto& key : r.missing) {
    if (ends_with(key, "num_batches_tracked")) continue;  // absent before PyTorch 0.4.1
    bool head = false;
    for (const auto& p : head_prefixes) head = head || starts_with(key, p);
    if (head && head_reset) continue;  // the head is re-initialized anyway
    missing.push_back(key);
  }
  for (const auto& m : r.mismatched) {
    if (m.action == MismatchAction::kSkipped) {
      skipped.push_back(m.key + " " + shape_text(m.file_shape) + " vs " + shape_text(m.model_shape));
    }
  }
  if (missing.empty() && skipped.empty() && r.unexpected.empty()) return;
  std::string msg = source + ": weights do not fit the model (strict):";
  if (!missing.empty()) msg += " missing " + std::to_string(missing.size()) + " [" + first_names(missing) + "];";
  if (!r.unexpected.empty()) {
    msg += " unexpected " + std::to_string(r.unexpected.size()) + " [" + first_names(r.unexpected) + "];";
  }
  if (!skipped.empty()) msg += " shape mismatch " + std::to_string(skipped.size()) + " [" + first_names(skipped) + "];";
  msg += " use strict: false to load what matches";
  throw ValueError(msg);
}

WeightLoadReport apply_plan(Model& model, Plan plan, const WeightLoadOptions& options, size_t file_keys) {
  enforce(model, plan.report, options, file_keys);
  const StateDict target = module_state_dict(model);
  torch::NoGradGuard no_grad;
  for (const auto& [key, value] : plan.copies) target[key].copy_(value);
  for (const auto& [key, value] : plan.adapted) target[key].copy_(value);
  if (plan.reset_head) model.reset_head();
  return std::move(plan.report);
}

}  // namespace

const torch::Tensor* find_weight(const StateDict& weights, const std::string& key) {
  if (const torch::Tensor* exact = weights.find(key)) return exact;
  for (const auto& item : weights) {
    if (resolve_key(item.key(), [&key](const std::string& k) { return k == key; })) return &item.value();
  }
  return nullptr;
}

std::string to_string(InputChannelMode mode) { return mode == InputChannelMode::kSum ? "sum" : "mean"; }

InputChannelMode parse_input_channel_mode(const std::string& name) {
  if (name == "sum") return InputChannelMode::kSum;
  if (name == "mean") return InputChannelMode::kMean;
  throw ConfigError("unknown input channel mode '" + name + "'; valid: sum, mean");
}

std::string to_string(MismatchAction action) {
  switch (action) {
    case MismatchAction::kAdapted: return "adapted";
    case MismatchAction::kReinitialized: return "reinitialized";
    case MismatchAction::kSkipped: return "skipped";
  }
  return "unknown";
}

bool WeightLoadReport::exact() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }

std::string WeightLoadReport::summary() const {
  std::ostringstream s;
  s << "matched " << matched.size() << ", missing " << missing.size() << ", unexpected " << unexpected.size()
    << ", mismatched " << mismatched.size();
  if (!mismatched.empty()) {
    s << " (";
    for (size_t i = 0; i < mismatched.size() && i < 4; ++i) {
      const auto& m = mismatched[i];
      s << (i ? "; " : "") << m.key << " " << to_string(m.action);
      if (m.file_shape != m.model_shape) s << " " << shape_text(m.file_shape) << " -> " << shape_text(m.model_shape);
    }
    if (mismatched.size() > 4) s << "; ...";
    s << ")";
  }
  return s.str();
}

torch::Tensor adapt_input_conv(const torch::Tensor& weight, int64_t in_channels, InputChannelMode mode) {
  if (!weight.defined() || weight.dim() < 3) throw ValueError("adapt_input_conv: expected a [O,C,k...] kernel");
  if (in_channels < 1) throw ValueError("adapt_input_conv: in_channels must be >= 1");
  const int64_t cs = weight.size(1), ct = in_channels;
  // mix[j][i]: the share of source channel i given to target channel j; each column sums to 1
  // so that sum_j W'_j = sum_i W_i (a grey image replicated in every channel gives the same
  // response as before).
  torch::Tensor mix = torch::zeros({ct, cs}, torch::kFloat64);
  auto m = mix.accessor<double, 2>();
  if (ct <= cs) {
    for (int64_t i = 0; i < cs; ++i) m[i % ct][i] = 1.0;
  } else {
    for (int64_t j = 0; j < ct; ++j) m[j][j % cs] = 1.0;
    mix = mix / mix.sum(0, /*keepdim=*/true);
  }
  if (mode == InputChannelMode::kMean) mix = mix / static_cast<double>(cs);
  torch::Tensor w = weight.detach().to(torch::kFloat64);
  torch::Tensor out = torch::tensordot(w, mix, {1}, {1}).movedim(-1, 1);  // [O,k...,Ct] -> [O,Ct,k...]
  return out.to(weight.scalar_type()).contiguous();
}

WeightLoadReport match_weights(const Model& model, const StateDict& weights, const WeightLoadOptions& options) {
  return plan_load(model, weights, options).report;
}

WeightLoadReport load_weights(Model& model, const StateDict& weights, const WeightLoadOptions& options) {
  return apply_plan(model, plan_load(model, weights, options), options, weights.size());
}

WeightLoadReport load_weights(Model& model, const std::filesystem::path& path, const WeightLoadOptions& options) {
  StateDict weights = read_weights(path);
  Plan plan = plan_load(model, weights, options);
  plan.report.source = path.string();
  WeightLoadReport report = apply_plan(model, std::move(plan), options, weights.size());
  logger()->info("weights {}: {}", path.string(), report.summary());
  return report;
}

}  // namespace tomograd::models
