// XGBoost boosting and random-forest mode, libsvm C-SVC: learning, seeds, model files.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "support/fixtures.hpp"
#include "tomograd/classic/metrics.hpp"
#include "tomograd/classic/random_forest.hpp"
#include "tomograd/classic/svc.hpp"
#include "tomograd/classic/xgboost.hpp"
#include "tomograd/core/atomic_file.hpp"

using namespace tomograd;
using namespace tomograd::classic;

namespace {
// 200 rows, 6 features; a step in feature 2 plus a slope in feature 0.
void step_data(Matrix& x, std::vector<double>& y, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  x = Matrix(200, 6);
  y.resize(200);
  for (std::size_t r = 0; r < 200; ++r) {
    for (std::size_t j = 0; j < 6; ++j) x(r, j) = u(rng);
    y[r] = (x(r, 2) > 0.2 ? 1.2 : 0.8) + 0.1 * x(r, 0);
  }
}
}  // namespace

TEST_CASE("XGBoost regression learns a step and predicts held-out rows", "[classic]") {
  Matrix x, xt;
  std::vector<double> y, yt;
  step_data(x, y, 1);
  step_data(xt, yt, 2);
  XgbParams p;
  p.n_estimators = 50;
  p.learning_rate = 0.3;
  p.max_depth = 3;
  XgbRegressor m(p);
  m.set_threads(1);
  m.fit(x, y);
  CHECK(regression_scores(yt, m.predict(xt)).r2 > 0.9);
  CHECK(m.fitted_info()["boosted_rounds"] == 50);
}

TEST_CASE("random forest: one round of n trees, seeded sampling", "[classic]") {
  Matrix x, xt;
  std::vector<double> y, yt;
  step_data(x, y, 3);
  step_data(xt, yt, 4);
  RandomForestParams p;
  p.n_estimators = 30;
  RandomForestRegressor a(p), b(p);
  a.fit(x, y);
  b.fit(x, y);
  CHECK(a.predict(xt) == b.predict(xt));  // same seed, same forest
  CHECK(a.fitted_info()["boosted_rounds"] == 1);
  CHECK(regression_scores(yt, a.predict(xt)).r2 > 0.85);
  p.seed = 7;
  RandomForestRegressor c(p);
  c.fit(x, y);
  CHECK(c.predict(xt) != a.predict(xt));  // another seed samples other rows and features
}

TEST_CASE("XGBoost and random-forest binary classifiers give probabilities", "[classic]") {
  Matrix x, xt;
  std::vector<double> y, yt;
  step_data(x, y, 5);
  step_data(xt, yt, 6);
  for (auto& v : y) v = v > 1.0 ? 1.0 : 0.0;
  for (auto& v : yt) v = v > 1.0 ? 1.0 : 0.0;
  XgbParams xp;
  xp.n_estimators = 30;
  XgbClassifier xgb(xp);
  xgb.fit(x, y);
  RandomForestParams rp;
  rp.n_estimators = 30;
  RandomForestClassifier rf(rp);
  rf.fit(x, y);
  for (const Classifier* c : {static_cast<const Classifier*>(&xgb), static_cast<const Classifier*>(&rf)}) {
    auto p = c->predict_proba(xt);
    for (double v : p) CHECK((v > 0.0 && v < 1.0));
    CHECK(binary_scores(yt, p).auc > 0.95);
  }
}

TEST_CASE("XGBoost model files: JSON on disk, objective checked on load", "[classic]") {
  test::TempDir tmp;
  Matrix x;
  std::vector<double> y;
  step_data(x, y, 8);
  XgbParams p;
  p.n_estimators = 5;
  XgbRegressor reg(p);
  reg.fit(x, y);
  reg.save(tmp / "model.xgb.json");
  std::string text = read_file(tmp / "model.xgb.json");
  CHECK(text.front() == '{');  // XGBoost's JSON format, chosen by the extension
  CHECK(text.find("reg:squarederror") != std::string::npos);
  XgbClassifier clf;
  CHECK_THROWS_WITH(clf.load(tmp / "model.xgb.json"), Catch::Contains("was not trained with objective binary:logistic"));
  write_file_atomic(tmp / "junk.xgb.json", "not a model");
  XgbRegressor junk;
  CHECK_THROWS_WITH(junk.load(tmp / "junk.xgb.json"), Catch::Contains("not a readable XGBoost model"));
  CHECK_THROWS_WITH(junk.load(tmp / "none.xgb.json"), Catch::Contains("is missing"));
  // Only the final file is left behind (the temp file was renamed).
  std::size_t files = 0;
  for (auto it = std::filesystem::directory_iterator(tmp.path()); it != std::filesystem::directory_iterator(); ++it) {
    ++files;
  }
  CHECK(files == 2);
}

TEST_CASE("libsvm C-SVC: Platt probabilities, seeded, libsvm file round trip", "[classic]") {
  test::TempDir tmp;
  Matrix x, xt;
  std::vector<double> y, yt;
  step_data(x, y, 9);
  step_data(xt, yt, 10);
  for (auto& v : y) v = v > 1.0 ? 1.0 : 0.0;
  for (auto& v : yt) v = v > 1.0 ? 1.0 : 0.0;
  Svc a, b;
  a.fit(x, y);
  b.fit(x, y);
  auto p = a.predict_proba(xt);
  CHECK(p == b.predict_proba(xt));
  CHECK(binary_scores(yt, p).auc > 0.9);
  a.save(tmp / "svc.libsvm");
  Svc loaded;
  loaded.load(tmp / "svc.libsvm");
  auto q = loaded.predict_proba(xt);
  for (std::size_t i = 0; i < p.size(); ++i) CHECK(q[i] == Approx(p[i]).margin(1e-6));
}
