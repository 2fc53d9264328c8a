// The shared part of the XGBoost-backed models, instantiated for XGBoost and the random forest,
// each as regressor and classifier.
#include "tomograd/classic/xgb_model.hpp"

#include <type_traits>

#include "tomograd/classic/random_forest.hpp"
#include "tomograd/classic/xgboost.hpp"
#include "xgb_booster.hpp"

namespace tomograd::classic {
namespace {

template <class Base>
std::string objective() {
  return std::is_base_of_v<Classifier, Base> ? "binary:logistic" : "reg:squarederror";
}

}  // namespace

template <class P, class B>
XgbModel<P, B>::XgbModel(P params)
    : params_(std::move(params)), booster_(std::make_unique<XgbBooster>(xgb_recipe(params_, "").what)) {}
template <class P, class B>
XgbModel<P, B>::~XgbModel() = default;
template <class P, class B>
XgbModel<P, B>::XgbModel(XgbModel&&) noexcept = default;
template <class P, class B>
XgbModel<P, B>& XgbModel<P, B>::operator=(XgbModel&&) noexcept = default;

template <class P, class B>
bool XgbModel<P, B>::is_fitted() const {
  return booster_->fitted();
}

template <class P, class B>
nlohmann::json XgbModel<P, B>::fitted_info() const {
  if (!booster_->fitted()) return nlohmann::json::object();
  nlohmann::json j{{"boosted_rounds", booster_->boosted_rounds()}, {"num_features", booster_->num_features()}};
  const int trees = xgb_recipe(params_, "").trees;
  if (trees > 0) j["trees"] = trees;
  return j;
}

template <class P, class B>
void XgbModel<P, B>::save(const std::filesystem::path& file) const {
  booster_->save(file);
}

template <class P, class B>
void XgbModel<P, B>::load(const std::filesystem::path& file) {
  booster_->load(file, objective<B>());
}

template <class P, class B>
void XgbModel<P, B>::train_booster(const Matrix& x, const std::vector<double>& y) {
  const XgbRecipe r = xgb_recipe(params_, objective<B>());
  booster_->train(x, y, r.settings, r.rounds, this->threads());
}

template <class P, class B>
std::vector<double> XgbModel<P, B>::booster_output(const Matrix& x) const {
  return booster_->predict(x, this->threads());
}

template class XgbModel<XgbParams, Regressor>;
template class XgbModel<XgbParams, Classifier>;
template class XgbModel<RandomForestParams, Regressor>;
template class XgbModel<RandomForestParams, Classifier>;

}  // namespace tomograd::classic
