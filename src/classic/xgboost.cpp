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

namespace {

std::string num(double v) { return format_number(v); }

XgbSettings settings(const XgbParams& p, const std::string& objective) {
  return {
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
}

nlohmann::json booster_info(const XgbBooster& b) {
  if (!b.fitted()) return nlohmann::json::object();
  return {{"boosted_rounds", b.boosted_rounds()}, {"num_features", b.num_features()}};
}

}  // namespace

// --- regression ---------------------------------------------------------------------------------

XgbRegressor::XgbRegressor(XgbParams params)
    : params_(std::move(params)), booster_(std::make_unique<XgbBooster>("xgboost")) {}
XgbRegressor::~XgbRegressor() = default;
XgbRegressor::XgbRegressor(XgbRegressor&&) noexcept = default;
XgbRegressor& XgbRegressor::operator=(XgbRegressor&&) noexcept = default;

bool XgbRegressor::is_fitted() const { return booster_->fitted(); }
nlohmann::json XgbRegressor::fitted_info() const { return booster_info(*booster_); }

void XgbRegressor::fit(const Matrix& x, const std::vector<double>& y) {
  check_regression_data(name(), x, y);
  booster_->train(x, y, settings(params_, "reg:squarederror"), params_.n_estimators, threads());
}

std::vector<double> XgbRegressor::predict(const Matrix& x) const { return booster_->predict(x, threads()); }
void XgbRegressor::save(const std::filesystem::path& file) const { booster_->save(file); }
void XgbRegressor::load(const std::filesystem::path& file) { booster_->load(file, "reg:squarederror"); }

// --- binary -------------------------------------------------------------------------------------

XgbClassifier::XgbClassifier(XgbParams params)
    : params_(std::move(params)), booster_(std::make_unique<XgbBooster>("xgboost")) {}
XgbClassifier::~XgbClassifier() = default;
XgbClassifier::XgbClassifier(XgbClassifier&&) noexcept = default;
XgbClassifier& XgbClassifier::operator=(XgbClassifier&&) noexcept = default;

bool XgbClassifier::is_fitted() const { return booster_->fitted(); }
nlohmann::json XgbClassifier::fitted_info() const { return booster_info(*booster_); }

void XgbClassifier::fit(const Matrix& x, const std::vector<double>& labels) {
  check_binary_data(name(), x, labels);
  booster_->train(x, labels, settings(params_, "binary:logistic"), params_.n_estimators, threads());
}

std::vector<double> XgbClassifier::predict_proba(const Matrix& x) const { return booster_->predict(x, threads()); }
void XgbClassifier::save(const std::filesystem::path& file) const { booster_->save(file); }
void XgbClassifier::load(const std::filesystem::path& file) { booster_->load(file, "binary:logistic"); }

}  // namespace tomograd::classic
