// Grouped K-fold, metrics on hand-checkable numbers, grid parsing and the grid search itself.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <random>
#include <set>

#include "tomograd/classic/grid_search.hpp"
#include "tomograd/classic/group_kfold.hpp"
#include "tomograd/classic/metrics.hpp"
#include "tomograd/classic/scaler.hpp"

using namespace tomograd;
using namespace tomograd::classic;

TEST_CASE("metrics on four numbers", "[classic]") {
  // errors 0,0,0,-1: MAE 1/4, RMSE sqrt(1/4), SS_tot = 5 so R² = 1 - 1/5.
  auto r = regression_scores({1, 2, 3, 4}, {1, 2, 3, 5});
  CHECK(r.mae == Approx(0.25));
  CHECK(r.rmse == Approx(0.5));
  CHECK(r.r2 == Approx(0.8));
  CHECK(std::isnan(regression_scores({2, 2}, {1, 3}).r2));
  // Positives score 0.35 and 0.8, negatives 0.1 and 0.4: 3 of 4 pairs ordered right.
  auto b = binary_scores({0, 0, 1, 1}, {0.1, 0.4, 0.35, 0.8});
  CHECK(b.auc == Approx(0.75));
  CHECK(b.accuracy == Approx(0.75));
  CHECK(b.log_loss == Approx(-(std::log(0.9) + std::log(0.6) + std::log(0.35) + std::log(0.8)) / 4));
  CHECK(binary_scores({0, 1}, {0.5, 0.5}).auc == Approx(0.5));  // a tie counts one half
  CHECK_THROWS_AS(regression_scores({1}, {1, 2}), ValueError);
  CHECK(higher_is_better("r2"));
  CHECK_FALSE(higher_is_better("rmse"));
  CHECK_THROWS_WITH(higher_is_better("f1"), Catch::Contains("valid: r2, mae, rmse"));
}

TEST_CASE("StandardScaler: population std, constant features map to 0", "[classic]") {
  Matrix x(4, 2, std::vector<double>{1, 7, 2, 7, 3, 7, 4, 7});
  StandardScaler s;
  s.fit(x);
  CHECK(s.mean()[0] == Approx(2.5));
  CHECK(s.stddev()[0] == Approx(std::sqrt(1.25)));  // ddof = 0, as sklearn
  CHECK(s.constant_features() == std::vector<std::size_t>{1});
  Matrix z = s.transform(x);
  CHECK(z(0, 0) == Approx(-1.5 / std::sqrt(1.25)));
  CHECK(z(2, 1) == 0.0);
  CHECK_THROWS_WITH(s.transform(Matrix(1, 3)), Catch::Contains("fitted on 2 features, got 3"));
  auto back = StandardScaler::from_json(s.to_json());
  CHECK(back.transform(x).data() == z.data());
  CHECK_THROWS_AS(StandardScaler::from_json({{"mean", {1.0}}}), ValueError);
}

TEST_CASE("group_k_fold keeps each id in one fold, balances rows, is seeded", "[classic]") {
  std::vector<std::string> ids;
  // 30 patients with 1 to 4 rows each (e.g. several vertebrae per patient).
  for (int p = 0; p < 30; ++p) {
    for (int k = 0; k <= p % 4; ++k) ids.push_back("P" + std::to_string(p));
  }
  auto folds = group_k_fold(ids, 5, 42);
  REQUIRE(folds.size() == ids.size());
  std::map<std::string, std::set<int>> folds_of_id;
  std::vector<int> rows(5, 0);
  for (std::size_t r = 0; r < ids.size(); ++r) {
    folds_of_id[ids[r]].insert(folds[r]);
    rows[static_cast<std::size_t>(folds[r])]++;
  }
  for (const auto& [id, f] : folds_of_id) CHECK(f.size() == 1);
  int lo = *std::min_element(rows.begin(), rows.end()), hi = *std::max_element(rows.begin(), rows.end());
  CHECK(hi - lo <= 4);  // greedy: at most one largest group apart
  CHECK(group_k_fold(ids, 5, 42) == folds);
  CHECK(group_k_fold(ids, 5, 43) != folds);
  auto f0 = fold_rows(folds, 0);
  CHECK(f0.train.size() + f0.test.size() == ids.size());
  CHECK_THROWS_WITH(group_k_fold({"a", "a", "b"}, 3, 1), Catch::Contains("at least 3 distinct ids, found 2"));
  CHECK_THROWS_AS(group_k_fold(ids, 1, 1), ValueError);
}

TEST_CASE("parsing of --param and --grid, and grid expansion", "[classic]") {
  auto p = parse_param_assignments({"C=10", " kernel = linear"});
  CHECK(p.at("C") == "10");
  CHECK(p.at("kernel") == "linear");
  CHECK_THROWS_WITH(parse_param_assignments({"C10"}), Catch::Contains("expected key=value"));
  CHECK_THROWS_WITH(parse_param_assignments({"C=1", "C=2"}), Catch::Contains("given twice"));
  auto g = parse_grid({"C=0.1,1,10", "epsilon=0.01,0.1"});
  REQUIRE(g.size() == 2);
  CHECK(g[0].second == std::vector<std::string>{"0.1", "1", "10"});
  CHECK_THROWS_WITH(parse_grid({"C=1,,2"}), Catch::Contains("empty value"));
  auto combos = expand_grid({{"kernel", "rbf"}}, g);
  REQUIRE(combos.size() == 6);
  CHECK(combos[0] == ParamMap{{"kernel", "rbf"}, {"C", "0.1"}, {"epsilon", "0.01"}});
  CHECK(combos[1] == ParamMap{{"kernel", "rbf"}, {"C", "0.1"}, {"epsilon", "0.1"}});
  CHECK(expand_grid({}, {}).size() == 1);
  CHECK_THROWS_WITH(expand_grid({{"C", "1"}}, g), Catch::Contains("both as --param and as --grid"));
}

namespace {
// 40 patients x 3 rows; the target is a smooth function of feature 0 plus noise.
void cv_data(Matrix& x, std::vector<double>& y, std::vector<std::string>& ids) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<double> u(-1, 1);
  x = Matrix(120, 8);
  y.assign(120, 0);
  ids.clear();
  for (std::size_t r = 0; r < 120; ++r) {
    ids.push_back("patient" + std::to_string(r / 3));
    for (std::size_t j = 0; j < 8; ++j) x(r, j) = u(rng) * (j + 1) + 10.0 * j;
    y[r] = 0.9 + 0.2 * std::sin(2 * x(r, 0)) + 0.02 * u(rng);
  }
}
}  // namespace

TEST_CASE("grid_search: scores per fold, best by the metric, deterministic", "[classic]") {
  Matrix x;
  std::vector<double> y;
  std::vector<std::string> ids;
  cv_data(x, y, ids);
  const auto& svr = model_registry().get("svr", Task::kRegression);
  GridSearchOptions o;
  o.folds = 4;
  o.seed = 3;
  o.threads = 2;
  auto grid = parse_grid({"C=0.001,1", "epsilon=0.01"});
  auto r = grid_search(svr, {}, grid, x, y, ids, o);
  REQUIRE(r.points.size() == 2);
  CHECK(r.metric == "r2");
  CHECK(r.best == 1);  // C = 0.001 cannot fit anything
  CHECK(r.points[1].params.at("C") == "1");
  CHECK(r.points[1].params.at("kernel") == "rbf");  // defaults filled in
  REQUIRE(r.points[1].folds.size() == 4);
  std::size_t tested = 0;
  for (const auto& f : r.points[1].folds) {
    tested += f.n_test;
    CHECK(f.n_test % 3 == 0);  // whole patients
    CHECK(f.scores.count("mae") == 1);
  }
  CHECK(tested == 120);
  CHECK(r.points[1].mean.at("r2") > 0.5);
  CHECK(r.points[0].mean.at("r2") < r.points[1].mean.at("r2"));
  auto again = grid_search(svr, {}, grid, x, y, ids, o);
  CHECK(again.to_json()["results"] == r.to_json()["results"]);
  auto j = r.to_json();
  CHECK(j["best_parameters"]["C"] == 1);
  CHECK(j["grid"]["C"][0] == 0.001);
  CHECK(j["results"][0]["folds"].size() == 4);

  o.metric = "rmse";
  auto by_rmse = grid_search(svr, {}, grid, x, y, ids, o);
  CHECK_FALSE(by_rmse.higher_is_better);
  CHECK(by_rmse.best == 1);

  o.metric = "auc";
  CHECK_THROWS_WITH(grid_search(svr, {}, grid, x, y, ids, o), Catch::Contains("not a regression metric"));
  o.metric = "";
  CHECK_THROWS_WITH(grid_search(svr, {}, parse_grid({"C=1,-1"}), x, y, ids, o),
                    Catch::Contains("parameter 'C' expects"));
}

TEST_CASE("grid_search: a training fold with a single class names the fold", "[classic]") {
  Matrix x(6, 1, std::vector<double>{0, 1, 2, 3, 4, 5});
  std::vector<double> y{0, 0, 0, 0, 1, 1};
  std::vector<std::string> ids{"a", "b", "c", "d", "e", "e"};
  GridSearchOptions o;
  o.folds = 5;
  o.threads = 1;
  CHECK_THROWS_WITH(grid_search(model_registry().get("xgboost", Task::kBinary), {}, {}, x, y, ids, o),
                    Catch::Contains("cross-validation fold") && Catch::Contains("needs both classes"));
}
