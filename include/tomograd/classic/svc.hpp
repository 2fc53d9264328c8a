#pragma once
/// @file Binary support vector classification (libsvm C_SVC) with Platt-scaled probabilities.
#include <memory>
#include <string>

#include "tomograd/classic/classifier.hpp"
#include "tomograd/classic/params.hpp"

namespace tomograd::classic {

/// C-SVC parameters; defaults follow scikit-learn 1.2's `sklearn.svm.SVC(probability=True)`.
struct SvcParams {
  std::string kernel = "rbf";   ///< "rbf" or "linear"
  double C = 1.0;               ///< penalty on margin violations (> 0)
  std::string gamma = "scale";  ///< as SvrParams::gamma
  double tol = 1e-3;            ///< libsvm stopping tolerance
  bool shrinking = true;        ///< libsvm shrinking heuristics
  double cache_mb = 200;        ///< kernel cache size in MB
  /// Seeds the internal 5-fold cross-validation libsvm runs to fit Platt's sigmoid (libsvm draws
  /// from the C library's rand(), so such fits are serialized).
  int seed = 0;

  static const ParamTable<SvcParams>& table();
};

/// C-SVC on libsvm; predict_proba() is libsvm's Platt probability of class 1 (so predict() at
/// 0.5 can differ slightly from the sign of the decision function, as in libsvm and sklearn).
class Svc : public Classifier {
 public:
  explicit Svc(SvcParams params = {});
  ~Svc() override;
  Svc(Svc&&) noexcept;
  Svc& operator=(Svc&&) noexcept;

  const SvcParams& params() const { return params_; }

  std::string name() const override { return "svc"; }
  nlohmann::json parameters() const override { return SvcParams::table().to_json(params_); }
  nlohmann::json fitted_info() const override;
  bool is_fitted() const override;
  std::string file_name() const override { return "model.libsvm"; }
  void save(const std::filesystem::path& file) const override;
  void load(const std::filesystem::path& file) override;
  void fit(const Matrix& x, const std::vector<double>& labels) override;
  std::vector<double> predict_proba(const Matrix& x) const override;

 private:
  struct Impl;
  SvcParams params_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tomograd::classic
