#pragma once
/// @file What every classic model has in common: a name, parameters, a model file.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace tomograd::classic {

/// What a model predicts.
enum class Task {
  kRegression,  ///< a continuous target (e.g. BMD in g/cm²)
  kBinary,      ///< a 0/1 target; models give P(y = 1)
};

/// "regression" or "binary".
std::string task_name(Task task);
/// Parses "regression" or "binary". Throws ConfigError listing both otherwise.
Task parse_task(const std::string& text);

/// Base of Regressor and Classifier. Not thread-safe: use one object per thread.
class Estimator {
 public:
  virtual ~Estimator() = default;

  /// Registry name, e.g. "svr".
  virtual std::string name() const = 0;
  /// Every parameter with its value, typed ({"C": 1.0, "kernel": "rbf", ...}).
  virtual nlohmann::json parameters() const = 0;
  /// What fitting found that the parameters do not say (e.g. SVR's resolved gamma, the number of
  /// support vectors, ElasticNet's intercept and iterations). Empty before fit()/load().
  virtual nlohmann::json fitted_info() const { return nlohmann::json::object(); }
  /// Whether fit() or load() has run.
  virtual bool is_fitted() const = 0;

  /// The model file's name inside a model folder, e.g. "model.libsvm"; its extension tells the
  /// format.
  virtual std::string file_name() const = 0;
  /// Writes the fitted model to @p file atomically (temp file + rename). Overwrites @p file.
  /// Throws ValueError before fit(), IoError when writing fails.
  virtual void save(const std::filesystem::path& file) const = 0;
  /// Reads a model written by save(). Throws IoError naming @p file when it is missing or invalid.
  virtual void load(const std::filesystem::path& file) = 0;

  /// Threads a single fit or predict may use (0 = all cores). Only XGBoost-based models use more
  /// than one, and only on tables of 20,000 rows or more (below, OpenMP costs more than it
  /// gains); grid search sets 1 and runs fits in parallel instead.
  void set_threads(int threads) { threads_ = threads; }
  int threads() const { return threads_; }

 private:
  int threads_ = 0;
};

}  // namespace tomograd::classic
