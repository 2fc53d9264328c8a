#include "tomograd/classic/xgboost.hpp"

#include "tomograd/core/error.hpp"
#include "xgb_booster.hpp"

namespace tomograd::classic {

const ParamTable<XgbParams>& XgbParams::table() {
  static const ParamTable<XgbParams> t = [] {
    ParamTable<XgbParams> t("xgboost");
    t.add("n_estimators", &XgbParams::n_estimators, 1, 100000, "boosting rounds")
        .add("learning_rate", &XgbParams::learning_rate, above(0, 1), "shrinkage per round (eta)")
        .add("max_depth", &XgbParams::max_depth, 0, 64, "maximum tree depth (0 = no limit; not with exact)")
        .add("min_child_weight", &XgbParams::min_child_weight, at_least(0), "minimum hessian sum in a leaf")
        .add("subsample", &XgbParams::subsample, above(0, 1), "fraction of rows sampled per tree")
        .add("colsample_bytree", &XgbParams::colsample_bytree, above(0, 1), "fraction of features per tree")
        .add("colsample_bynode", &XgbParams::colsample_bynode, above(0, 1), "fraction of features per split")
        .add("reg_lambda", &XgbParams::reg_lambda, at_least(0), "L2 penalty on leaf weights (lambda)")
        .add("reg_alpha", &XgbParams::reg_alpha, at_least(0), "L1 penalty on leaf weights (alpha)")
        .add("gamma", &XgbParams::gamma, at_least(0), "minimum loss reduction to split (min_split_loss)")
        .add_choice("tree_method", &XgbParams::tree_method, {"exact", "hist", "approx"},
                    "tree construction (exact: XGBoost 1.7's choice for small tables)")
        .add("max_bin", &XgbParams::max_bin, 2, 65535, "histogram bins (hist, approx)")
        .add("seed", &XgbParams::seed, 0, 2147483647, "random seed for row and feature sampling");
    return t;
  }();
  return t;
}

XgbRecipe xgb_recipe(const XgbParams& p, const std::string& objective) {
  const auto num = [](double v) { return format_number(v); };
  XgbRecipe r;
  r.what = "xgboost";
  r.rounds = p.n_estimators;
  r.settings = {
      {"booster", "gbtree"},
      {"objective", objective},
      {"eta", num(p.learning_rate)},
      {"max_depth", std::to_string(p.max_depth)},
      {"min_child_weight", num(p.min_child_weight)},
      {"subsample", num(p.subsample)},
      {"colsample_bytree", num(p.colsample_bytree)},
      {"colsample_bynode", num(p.colsample_bynode)},
      {"lambda", num(p.reg_lambda)},
      {"alpha", num(p.reg_alpha)},
      {"gamma", num(p.gamma)},
      {"tree_method", p.tree_method},
      {"max_bin", std::to_string(p.max_bin)},
      {"seed", std::to_string(p.seed)},
  };
  return r;
}

XgbRegressor::XgbRegressor(XgbParams params) : XgbModel(std::move(params)) {}

void XgbRegressor::fit(const Matrix& x, const std::vector<double>& y) {
  check_regression_data(name(), x, y);
  train_booster(x, y);
}

XgbClassifier::XgbClassifier(XgbParams params) : XgbModel(std::move(params)) {}

void XgbClassifier::fit(const Matrix& x, const std::vector<double>& labels) {
  check_binary_data(name(), x, labels);
  train_booster(x, labels);
}

}  // namespace tomograd::classic
