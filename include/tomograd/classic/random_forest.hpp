#pragma once
/// @file Random forests in XGBoost's random-forest mode: one boosting round that grows
/// n_estimators trees in parallel (num_parallel_tree) on row and per-split feature subsamples,
/// learning rate 1 (XGBoost's XGBRFRegressor/XGBRFClassifier).
#include <memory>
#include <string>

#include "tomograd/classic/classifier.hpp"
#include "tomograd/classic/params.hpp"
#include "tomograd/classic/regressor.hpp"
#include "tomograd/classic/xgb_model.hpp"

namespace tomograd::classic {

/// Random forest parameters; defaults are XGBoost 1.7's XGBRFRegressor defaults.
struct RandomForestParams {
  int n_estimators = 100;         ///< trees (num_parallel_tree)
  int max_depth = 6;              ///< tree depth (0 = no limit; not with tree_method=exact)
  double min_child_weight = 1.0;  ///< minimum hessian sum in a leaf
  double subsample = 0.8;         ///< fraction of rows sampled per tree (< 1 for a forest)
  double colsample_bynode = 0.8;  ///< fraction of features sampled per split
  double reg_lambda = 1e-5;       ///< L2 penalty on leaf weights (near 0: leaves are means)
  /// "exact", "hist" or "approx". Default exact: what XGBoost 1.7's own default ("auto") picks
  /// for tables under 4M rows. On 240 rows x 512 features a 100-tree depth-6 forest was ~10x
  /// faster than hist (whose per-node histograms, features x bins, dominate on few rows); shallow
  /// boosting (depth 2) was ~2x faster with hist.
  std::string tree_method = "exact";
  int max_bin = 256;              ///< histogram bins
  int seed = 0;                   ///< random seed for row/feature sampling

  static const ParamTable<RandomForestParams>& table();
};

/// Random forest regression (reg:squarederror). Model file: XGBoost JSON.
class RandomForestRegressor : public XgbModel<RandomForestParams, Regressor> {
 public:
  explicit RandomForestRegressor(RandomForestParams params = {});
  std::string name() const override { return "rf"; }
  void fit(const Matrix& x, const std::vector<double>& y) override;
  std::vector<double> predict(const Matrix& x) const override { return booster_output(x); }
};

/// Random forest classification (binary:logistic). Model file: XGBoost JSON.
class RandomForestClassifier : public XgbModel<RandomForestParams, Classifier> {
 public:
  explicit RandomForestClassifier(RandomForestParams params = {});
  std::string name() const override { return "rf"; }
  void fit(const Matrix& x, const std::vector<double>& labels) override;
  std::vector<double> predict_proba(const Matrix& x) const override { return booster_output(x); }
};

extern template class XgbModel<RandomForestParams, Regressor>;
extern template class XgbModel<RandomForestParams, Classifier>;

}  // namespace tomograd::classic
