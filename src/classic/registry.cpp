#include "tomograd/classic/registry.hpp"

#include <algorithm>

#include "tomograd/classic/elastic_net.hpp"
#include "tomograd/classic/random_forest.hpp"
#include "tomograd/classic/svc.hpp"
#include "tomograd/classic/svr.hpp"
#include "tomograd/classic/xgboost.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::classic {

void ModelRegistry::add(ModelEntry entry) {
  if (has(entry.name, entry.task)) {
    throw ValueError("model '" + entry.name + "' is already registered for task " + task_name(entry.task));
  }
  entries_.push_back(std::move(entry));
}

bool ModelRegistry::has(const std::string& name, Task task) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const ModelEntry& e) { return e.name == name && e.task == task; });
}

const ModelEntry& ModelRegistry::get(const std::string& name, Task task) const {
  for (const auto& e : entries_) {
    if (e.name == name && e.task == task) return e;
  }
  std::string valid;
  for (const auto& n : names(task)) valid += (valid.empty() ? "" : ", ") + n;
  throw ConfigError("unknown " + task_name(task) + " model '" + name + "' (valid: " + valid + ")");
}

std::vector<std::string> ModelRegistry::names(Task task) const {
  std::vector<std::string> out;
  for (const auto& e : entries_) {
    if (e.task == task) out.push_back(e.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace {

// One entry per (model, task): Model is the class, P its parameter struct.
template <typename Model, typename P>
ModelEntry regressor_entry(std::string name, std::string description) {
  ModelEntry e;
  e.name = std::move(name);
  e.task = Task::kRegression;
  e.description = std::move(description);
  e.params = P::table().info();
  e.make_regressor = [](const ParamMap& m) -> std::unique_ptr<Regressor> {
    return std::make_unique<Model>(P::table().parse(m));
  };
  e.resolve = [](const ParamMap& m) { return P::table().to_map(P::table().parse(m)); };
  return e;
}

template <typename Model, typename P>
ModelEntry classifier_entry(std::string name, std::string description) {
  ModelEntry e;
  e.name = std::move(name);
  e.task = Task::kBinary;
  e.description = std::move(description);
  e.params = P::table().info();
  e.make_classifier = [](const ParamMap& m) -> std::unique_ptr<Classifier> {
    return std::make_unique<Model>(P::table().parse(m));
  };
  e.resolve = [](const ParamMap& m) { return P::table().to_map(P::table().parse(m)); };
  return e;
}

}  // namespace

void register_builtin_models(ModelRegistry& r) {
  r.add(regressor_entry<Svr, SvrParams>("svr", "epsilon-SVR (libsvm), RBF or linear kernel"));
  r.add(regressor_entry<XgbRegressor, XgbParams>("xgboost", "gradient-boosted trees (XGBoost, reg:squarederror)"));
  r.add(regressor_entry<RandomForestRegressor, RandomForestParams>("rf", "random forest (XGBoost random-forest mode)"));
  r.add(regressor_entry<ElasticNet, ElasticNetParams>("elasticnet", "ElasticNet linear model (coordinate descent)"));
  r.add(classifier_entry<Svc, SvcParams>("svc", "C-SVC (libsvm) with Platt probabilities"));
  r.add(classifier_entry<XgbClassifier, XgbParams>("xgboost", "gradient-boosted trees (XGBoost, binary:logistic)"));
  r.add(classifier_entry<RandomForestClassifier, RandomForestParams>("rf", "random forest (XGBoost random-forest mode)"));
}

const ModelRegistry& model_registry() {
  static const ModelRegistry registry = [] {
    ModelRegistry r;
    register_builtin_models(r);
    return r;
  }();
  return registry;
}

std::unique_ptr<Regressor> make_regressor(const std::string& name, const ParamMap& params) {
  return model_registry().get(name, Task::kRegression).make_regressor(params);
}

std::unique_ptr<Classifier> make_classifier(const std::string& name, const ParamMap& params) {
  return model_registry().get(name, Task::kBinary).make_classifier(params);
}

}  // namespace tomograd::classic
