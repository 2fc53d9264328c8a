#pragma once
/// @file What the XGBoost-backed models share (XgbRegressor, XgbClassifier, RandomForestRegressor,
/// RandomForestClassifier): their parameters, the booster behind the C API and its JSON model
/// file. Regressors train with reg:squarederror, classifiers with binary:logistic.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tomograd/classic/matrix.hpp"

namespace tomograd::classic {

class XgbBooster;  // private wrapper of the C API handle (src/classic)

/// @tparam Params XgbParams or RandomForestParams (with a static table())
/// @tparam Base Regressor or Classifier
template <class Params, class Base>
class XgbModel : public Base {
 public:
  ~XgbModel() override;
  XgbModel(XgbModel&&) noexcept;
  XgbModel& operator=(XgbModel&&) noexcept;

  const Params& params() const { return params_; }
  nlohmann::json parameters() const override { return Params::table().to_json(params_); }
  /// boosted_rounds and num_features (and trees for a forest); empty before fit()/load().
  nlohmann::json fitted_info() const override;
  bool is_fitted() const override;
  std::string file_name() const override { return "model.xgb.json"; }
  void save(const std::filesystem::path& file) const override;
  /// Also checks that the file's objective is this model's.
  void load(const std::filesystem::path& file) override;

 protected:
  explicit XgbModel(Params params);
  /// Trains a fresh booster on checked data.
  void train_booster(const Matrix& x, const std::vector<double>& y);
  /// The booster's output per row: values (regression) or P(y = 1) (classification).
  std::vector<double> booster_output(const Matrix& x) const;

 private:
  Params params_;
  std::unique_ptr<XgbBooster> booster_;
};

}  // namespace tomograd::classic
