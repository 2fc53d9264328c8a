#include "tomograd/classic/random_forest.hpp"

#include "tomograd/core/error.hpp"
#include "xgb_booster.hpp"

namespace tomograd::classic {

const ParamTable<RandomForestParams>& RandomForestParams::table() {
  static const ParamTable<RandomForestParams> t = [] {
    ParamTable<RandomForestParams> t("rf");
    t.add("n_estimators", &RandomForestParams::n_estimators, 1, 100000, "trees in the forest (num_parallel_tree)")
        .add("max_depth", &RandomForestParams::max_depth, 0, 64, "maximum tree depth (0 = no limit; not with exact)")
        .add("min_child_weight", &RandomForestParams::min_child_weight, at_least(0), "minimum hessian sum in a leaf")
        .add("subsample", &RandomForestParams::subsample, above(0, 1), "fraction of rows sampled per tree")
        .add("colsample_bynode", &RandomForestParams::colsample_bynode, above(0, 1), "fraction of features per split")
        .add("reg_lambda", &RandomForestParams::reg_lambda, at_least(0), "L2 penalty on leaf weights")
        .add_choice("tree_method", &RandomForestParams::tree_method, {"exact", "hist", "approx"},
                    "tree construction (exact: XGBoost 1.7's choice for small tables)")
        .add("max_bin", &RandomForestParams::max_bin, 2, 65535, "histogram bins (hist, approx)")
        .add("seed", &RandomForestParams::seed, 0, 2147483647, "random seed for row and feature sampling");
    return t;
  }();
  return t;
}

// XGBoost's random-forest mode (XGBoost docs, "Random Forests(TM) in XGBoost"): a single round
// of num_parallel_tree trees, each on its own row subsample and per-node feature subsample, and
// learning rate 1 so the forest's output is the trees' average effect rather than a shrunk step.
XgbRecipe xgb_recipe(const RandomForestParams& p, const std::string& objective) {
  XgbRecipe r;
  r.what = "rf";
  r.rounds = 1;
  r.trees = p.n_estimators;
  r.settings = {
      {"booster", "gbtree"},
      {"objective", objective},
      {"eta", "1"},
      {"num_parallel_tree", std::to_string(p.n_estimators)},
      {"max_depth", std::to_string(p.max_depth)},
      {"min_child_weight", format_number(p.min_child_weight)},
      {"subsample", format_number(p.subsample)},
      {"colsample_bynode", format_number(p.colsample_bynode)},
      {"lambda", format_number(p.reg_lambda)},
      {"tree_method", p.tree_method},
      {"max_bin", std::to_string(p.max_bin)},
      {"seed", std::to_string(p.seed)},
  };
  return r;
}

RandomForestRegressor::RandomForestRegressor(RandomForestParams params) : XgbModel(std::move(params)) {}

void RandomForestRegressor::fit(const Matrix& x, const std::vector<double>& y) {
  check_regression_data(name(), x, y);
  train_booster(x, y);
}

RandomForestClassifier::RandomForestClassifier(RandomForestParams params) : XgbModel(std::move(params)) {}

void RandomForestClassifier::fit(const Matrix& x, const std::vector<double>& labels) {
  check_binary_data(name(), x, labels);
  train_booster(x, labels);
}

}  // namespace tomograd::classic
