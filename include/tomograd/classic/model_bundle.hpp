#pragma once
/// @file A trained model folder: scaler + model + metadata, fitted with grid search, saved and
/// loaded as a unit.
///
/// Folder layout (docs/classic.md): metadata.json (format, tomograd version, task, model name,
/// parameters, id/target column, feature names, scaler mean/std, cross-validation scores, model
/// file name) and the model file (model.libsvm, model.xgb.json or elasticnet.json).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tomograd/classic/classifier.hpp"
#include "tomograd/classic/feature_table.hpp"
#include "tomograd/classic/grid_search.hpp"
#include "tomograd/classic/regressor.hpp"
#include "tomograd/classic/scaler.hpp"
#include "tomograd/core/csv.hpp"

namespace tomograd::classic {

/// Name of the metadata file in a model folder.
inline constexpr const char* kMetadataFile = "metadata.json";

/// What to fit.
struct FitOptions {
  std::string model = "svr";
  Task task = Task::kRegression;
  ParamMap params;    ///< fixed parameters (`--param`)
  ParamGrid grid;     ///< searched parameters (`--grid`)
  /// Cross-validation folds; 0 = no cross-validation (only allowed without a grid).
  int folds = 5;
  uint64_t seed = 42;  ///< fold assignment seed
  std::string metric;  ///< selection metric ("" = r2 / auc)
  int threads = 0;     ///< 0 = all cores
};

/// Scaler, fitted model and metadata.
class ModelBundle {
 public:
  ModelBundle();
  ~ModelBundle();
  ModelBundle(ModelBundle&&) noexcept;
  ModelBundle& operator=(ModelBundle&&) noexcept;

  /// Grid search with grouped K-fold CV (when options.folds >= 2), then a refit of the best
  /// parameters on every row of @p train (the scaler fitted on all of them). @p train needs a
  /// target. Throws ConfigError for a bad model name, parameter or metric, ValueError for bad
  /// data (constant target, single class, labels not 0/1, fewer ids than folds).
  static ModelBundle fit(const FeatureTable& train, const FitOptions& options);

  /// Reads a folder written by save(). Throws IoError naming the folder/file when something is
  /// missing, unreadable or of another format.
  static ModelBundle load(const std::filesystem::path& dir);

  /// Writes the model file, then metadata.json, each atomically, into @p dir (created if
  /// missing). Throws IoError when @p dir already has files and !@p force.
  void save(const std::filesystem::path& dir, bool force = false) const;

  /// How to read a file to predict on: the training id column, exactly the training features,
  /// the target optional.
  FeatureTableOptions input_options() const;

  /// Predictions for @p input (columns checked against training): values in target units for
  /// regression, P(y = 1) for binary. Throws ValueError when features differ from training.
  std::vector<double> predict(const FeatureTable& input) const;

  /// The output table: id, then the target if @p input has it (renamed "<name>_true" if it
  /// clashes with an output column), then "prediction" (regression) or "probability" and
  /// "predicted_label" (binary: 1 where probability >= 0.5).
  CsvTable prediction_table(const FeatureTable& input, const std::vector<double>& predictions) const;

  Task task() const;
  const std::string& model_name() const;
  const std::vector<std::string>& feature_names() const { return features_; }
  const nlohmann::json& metadata() const { return metadata_; }
  const StandardScaler& scaler() const { return scaler_; }
  /// The fitted model (one of the two is null, by task).
  const Regressor* regressor() const { return regressor_.get(); }
  const Classifier* classifier() const { return classifier_.get(); }

 private:
  const Estimator& estimator() const;

  nlohmann::json metadata_;
  StandardScaler scaler_;
  std::vector<std::string> features_;
  std::unique_ptr<Regressor> regressor_;
  std::unique_ptr<Classifier> classifier_;
};

/// Throws IoError when @p dir exists and is not an empty folder, unless @p force (then it must
/// still be a folder). Call before a long fit so it fails fast.
void check_model_dir(const std::filesystem::path& dir, bool force);

}  // namespace tomograd::classic
