#include "tomograd/train/curriculum.hpp"

#include <algorithm>
#include <set>

#include "tomograd/core/error.hpp"

namespace tomograd::train {

namespace {
bool matches(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes) {
    if (p == "*" || name.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}
}  // namespace

Curriculum::Curriculum(std::vector<CurriculumStage> stages) : stages_(std::move(stages)) {
  if (stages_.empty()) return;
  if (stages_.front().from_epoch != 0) throw ConfigError("curriculum: the first stage must start at epoch 0");
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    if (stages_[i].trainable.empty()) {
      throw ConfigError("curriculum stage " + std::to_string(i) + ": 'trainable' lists no module prefix");
    }
    if (i > 0 && stages_[i].from_epoch <= stages_[i - 1].from_epoch) {
      throw ConfigError("curriculum: stages must start at increasing epochs (stage " + std::to_string(i) + ")");
    }
    if (stages_[i].name.empty()) stages_[i].name = "stage" + std::to_string(i + 1);
  }
}

std::size_t Curriculum::stage_at(int epoch) const {
  std::size_t s = 0;
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    if (epoch >= stages_[i].from_epoch) s = i;
  }
  return s;
}

std::vector<std::string> Curriculum::lr_prefixes() const {
  std::vector<std::string> out;
  for (const auto& st : stages_) {
    for (const auto& [prefix, lr] : st.lr) {
      if (std::find(out.begin(), out.end(), prefix) == out.end()) out.push_back(prefix);
    }
  }
  // Longer prefixes first so "layer4.1" wins over "layer4".
  std::stable_sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

std::vector<std::string> Curriculum::trainable_at(int epoch, const torch::nn::Module& module) const {
  std::vector<std::string> names;
  for (const auto& p : module.named_parameters(true)) {
    if (stages_.empty() || matches(p.key(), stages_[stage_at(epoch)].trainable)) names.push_back(p.key());
  }
  return names;
}

void Curriculum::check_patterns(const torch::nn::Module& module) const {
  if (stages_.empty()) return;
  std::vector<std::string> names;
  for (const auto& p : module.named_parameters(true)) names.push_back(p.key());
  auto any = [&](const std::string& pattern) {
    return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return matches(n, {pattern}); });
  };
  auto top_level = [&] {
    std::vector<std::string> top;
    for (const auto& c : module.named_children()) top.push_back(c.key());
    for (const auto& p : module.named_parameters(false)) top.push_back(p.key());
    std::string list;
    for (const auto& t : top) list += (list.empty() ? "" : ", ") + t;
    return list.empty() ? std::string("(none)") : list;
  };
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    const CurriculumStage& st = stages_[i];
    const std::string where = "curriculum stage " + std::to_string(i + 1) + " '" + st.name + "': ";
    for (const auto& t : st.trainable) {
      if (!any(t)) {
        throw ConfigError(where + "trainable pattern '" + t + "' matches no parameter of the model (patterns are " +
                          "name prefixes, or '*'); the model's top-level names are: " + top_level());
      }
    }
    for (const auto& [prefix, lr] : st.lr) {
      if (!prefix.empty() && !any(prefix)) {
        throw ConfigError(where + "lr prefix '" + prefix + "' matches no parameter of the model; the model's " +
                          "top-level names are: " + top_level());
      }
    }
  }
}

std::vector<double> Curriculum::apply(int epoch, torch::nn::Module& module, const ParamGroups& groups,
                                      double default_lr) const {
  std::vector<double> lrs(groups.prefixes.size() + 1, default_lr);
  if (stages_.empty()) return lrs;
  check_patterns(module);
  const CurriculumStage& st = stages_[stage_at(epoch)];
  for (auto& p : module.named_parameters(true)) {
    const bool train = matches(p.key(), st.trainable);
    p.value().set_requires_grad(train);
    // A frozen parameter keeps no stale gradient, so optimizers skip it entirely.
    if (!train && p.value().grad().defined()) p.value().mutable_grad() = torch::Tensor();
  }
  for (std::size_t g = 0; g < groups.prefixes.size(); ++g) {
    auto it = st.lr.find(groups.prefixes[g]);
    if (it != st.lr.end()) lrs[g] = it->second;
  }
  return lrs;
}

}  // namespace tomograd::train
