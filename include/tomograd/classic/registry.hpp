#pragma once
/// @file The classic model registry: names → factories, per task. An unknown name or parameter
/// fails with the list of valid ones.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tomograd/classic/classifier.hpp"
#include "tomograd/classic/estimator.hpp"
#include "tomograd/classic/params.hpp"
#include "tomograd/classic/regressor.hpp"

namespace tomograd::classic {

/// One model of one task.
struct ModelEntry {
  std::string name;         ///< e.g. "svr"
  Task task = Task::kRegression;
  std::string description;  ///< one line for listings
  std::vector<ParamInfo> params;
  /// Builds the model from text parameters (defaults for the rest). Throws ConfigError for an
  /// unknown key (listing the valid ones) or a value out of bounds. Exactly one of the two is set,
  /// according to task.
  std::function<std::unique_ptr<Regressor>(const ParamMap&)> make_regressor;
  std::function<std::unique_ptr<Classifier>(const ParamMap&)> make_classifier;
  /// Parses @p params (throws as above) and returns every parameter as text, defaults filled in.
  std::function<ParamMap(const ParamMap&)> resolve;
};

/// Models by (task, name).
class ModelRegistry {
 public:
  /// Throws ValueError when (task, name) is already registered.
  void add(ModelEntry entry);
  /// Throws ConfigError "unknown <task> model 'x' (valid: a, b, c)".
  const ModelEntry& get(const std::string& name, Task task) const;
  bool has(const std::string& name, Task task) const;
  /// Sorted names of the models of @p task.
  std::vector<std::string> names(Task task) const;
  const std::vector<ModelEntry>& entries() const { return entries_; }

 private:
  std::vector<ModelEntry> entries_;
};

/// Adds svr, xgboost, rf and elasticnet (regression) and svc, xgboost and rf (binary).
void register_builtin_models(ModelRegistry& registry);

/// The process-wide registry, filled by register_builtin_models() on first use.
const ModelRegistry& model_registry();

/// Shorthands for model_registry().get(name, task).make_*(params).
std::unique_ptr<Regressor> make_regressor(const std::string& name, const ParamMap& params = {});
std::unique_ptr<Classifier> make_classifier(const std::string& name, const ParamMap& params = {});

}  // namespace tomograd::classic
