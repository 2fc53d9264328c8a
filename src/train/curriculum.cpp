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

std::vector<double> Curriculum::apply(int epoch, torch::nn::Module& module, const ParamGroups& groups,
                                      double default_lr) const {
  std::vector<double> lrs(groups.prefixes.size() + 1, default_lr);
  if (stages_.empty()) return lrs;
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
