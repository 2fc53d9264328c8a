#pragma once
// Private: an XGBoost booster behind the C API, for XgbRegressor/Classifier and the random forests.
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tomograd/classic/matrix.hpp"

namespace tomograd::classic {

using XgbSettings = std::vector<std::pair<std::string, std::string>>;

struct XgbParams;
struct RandomForestParams;

/// How a model family drives the booster: its name in messages, the XGBoosterSetParam pairs for
/// an objective, the boosting rounds, and the trees it reports (0 = not reported).
struct XgbRecipe {
  std::string what;
  XgbSettings settings;
  int rounds = 1;
  int trees = 0;
};
/// Defined beside each family's parameters (xgboost.cpp, random_forest.cpp).
XgbRecipe xgb_recipe(const XgbParams& params, const std::string& objective);
XgbRecipe xgb_recipe(const RandomForestParams& params, const std::string& objective);

/// One trained (or loaded) booster. Not thread-safe; separate boosters may train concurrently.
class XgbBooster {
 public:
  /// @param what names the model in messages ("xgboost", "rf")
  explicit XgbBooster(std::string what);
  ~XgbBooster();
  XgbBooster(const XgbBooster&) = delete;
  XgbBooster& operator=(const XgbBooster&) = delete;

  /// Trains a fresh booster: @p settings as XGBoosterSetParam pairs, @p rounds boosting rounds,
  /// up to @p threads OpenMP threads (0 = all cores; see xgboost_threads()).
  void train(const Matrix& x, const std::vector<double>& y, const XgbSettings& settings, int rounds, int threads);
  /// Model output per row (values, or probabilities for binary:logistic), with @p threads
  /// prediction threads (0 = all cores).
  std::vector<double> predict(const Matrix& x, int threads) const;
  /// XGBoosterSaveModel to @p file atomically; the ".json" extension selects XGBoost's JSON format.
  void save(const std::filesystem::path& file) const;
  /// XGBoosterLoadModel; checks the objective is @p objective.
  void load(const std::filesystem::path& file, const std::string& objective);

  bool fitted() const { return handle_ != nullptr; }
  int num_features() const { return num_features_; }
  int boosted_rounds() const;

 private:
  void free_handle();

  std::string what_;
  void* handle_ = nullptr;
  int num_features_ = -1;
};

/// The OpenMP threads XGBoost gets for @p rows rows when @p requested are asked for (0 = all
/// cores): 1 below kXgbMinRowsForThreads rows. On small tables a fit is a few milliseconds of
/// work per tree split across many OpenMP barriers; measured on 240 x 512 features (2 cores), a
/// random forest took 1.3 s on one thread and 16.8 s on two while other processes used the cores
/// (OpenMP's spinning barriers), 2.4 s with OMP_WAIT_POLICY=passive. Grid search parallelizes
/// whole fits instead.
int xgboost_threads(int requested, std::size_t rows);
inline constexpr std::size_t kXgbMinRowsForThreads = 20000;

/// "major.minor.patch" of the XGBoost library linked at run time.
std::string xgboost_version();

}  // namespace tomograd::classic
