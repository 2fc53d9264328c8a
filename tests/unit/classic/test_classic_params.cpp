// Typed parameters, the model registry, and a loop over every registered model.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "support/fixtures.hpp"
#include "tomograd/classic/registry.hpp"
#include "tomograd/classic/svr.hpp"
#include "tomograd/classic/xgboost.hpp"

using namespace tomograd;
using namespace tomograd::classic;

namespace {

// 60 rows, 5 features; y depends on features 0 and 1. Seeded, so every run sees the same data.
void tiny_data(Matrix& x, std::vector<double>& y, bool binary) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  x = Matrix(60, 5);
  y.resize(60);
  for (std::size_t r = 0; r < 60; ++r) {
    for (std::size_t j = 0; j < 5; ++j) x(r, j) = u(rng);
    double v = 0.8 + 0.1 * x(r, 0) - 0.05 * x(r, 1) * x(r, 1) + 0.01 * u(rng);
    y[r] = binary ? (x(r, 0) + 0.3 * x(r, 1) > 0 ? 1.0 : 0.0) : v;
  }
}

}  // namespace

TEST_CASE("ParamTable: defaults, bounds, unknown keys, round trip", "[classic]") {
  const auto& t = SvrParams::table();
  SvrParams p = t.parse({});
  CHECK(p.kernel == "rbf");
  CHECK(p.C == 1.0);
  CHECK(p.epsilon == 0.1);
  CHECK(p.gamma == "scale");

  p = t.parse({{"C", "10"}, {"kernel", "linear"}, {"gamma", "0.01"}, {"shrinking", "false"}});
  CHECK(p.C == 10.0);
  CHECK(p.kernel == "linear");
  CHECK(p.gamma == "0.01");
  CHECK_FALSE(p.shrinking);

  CHECK_THROWS_WITH(t.parse({{"gama", "1"}}),
                    Catch::Contains("svr: unknown parameter 'gama'") && Catch::Contains("valid: kernel, C, epsilon, gamma"));
  CHECK_THROWS_WITH(t.parse({{"C", "0"}}), Catch::Contains("parameter 'C' expects a number in (0, inf)") &&
                                              Catch::Contains("got '0'"));
  CHECK_THROWS_WITH(t.parse({{"C", "abc"}}), Catch::Contains("'C'"));
  CHECK_THROWS_WITH(t.parse({{"kernel", "poly"}}), Catch::Contains("one of rbf|linear"));
  CHECK_THROWS_WITH(t.parse({{"gamma", "-1"}}), Catch::Contains("scale|auto or a number"));
  CHECK_THROWS_AS(t.parse({{"C", "nan"}}), ConfigError);
  CHECK_THROWS_WITH(XgbParams::table().parse({{"max_depth", "2.5"}}), Catch::Contains("an integer in [0, 64]"));
  CHECK_THROWS_WITH(XgbParams::table().parse({{"subsample", "1.5"}}), Catch::Contains("(0, 1]"));

  // Typed JSON -> text -> struct gives the same values.
  auto j = t.to_json(p);
  CHECK(j["C"].get<double>() == 10.0);
  CHECK(j["gamma"].get<double>() == 0.01);
  CHECK(t.to_json(t.parse(param_map_from_json(j))) == j);

  auto info = t.info();
  REQUIRE(info.size() == t.keys().size());
  CHECK(info[1].name == "C");
  CHECK(info[1].default_value == "1");
  CHECK(info[1].range == "(0, inf)");
  CHECK_FALSE(info[1].description.empty());
  CHECK(format_number(0.1) == "0.1");
  CHECK(format_number(1e-5) == "1e-05");
}

TEST_CASE("registry: names per task, unknown names list the valid ones", "[classic]") {
  const auto& r = model_registry();
  CHECK(r.names(Task::kRegression) == std::vector<std::string>{"elasticnet", "rf", "svr", "xgboost"});
  CHECK(r.names(Task::kBinary) == std::vector<std::string>{"rf", "svc", "xgboost"});
  CHECK_THROWS_WITH(r.get("lasso", Task::kRegression),
                    Catch::Contains("unknown regression model 'lasso'") &&
                        Catch::Contains("valid: elasticnet, rf, svr, xgboost"));
  CHECK_THROWS_WITH(make_classifier("svr"), Catch::Contains("valid: rf, svc, xgboost"));
  CHECK_THROWS_AS(make_regressor("xgboost", {{"eta", "0.1"}}), ConfigError);  // our key is learning_rate
  CHECK_THROWS_WITH(parse_task("multiclass"), Catch::Contains("valid: binary, regression"));
  ModelRegistry copy;
  register_builtin_models(copy);
  CHECK_THROWS_AS(copy.add(copy.entries().front()), ValueError);
}

TEST_CASE("every registered model fits, predicts finite values, and saves/loads identically", "[classic]") {
  test::TempDir tmp;
  for (const auto& entry : model_registry().entries()) {
    DYNAMIC_SECTION(task_name(entry.task) << " " << entry.name) {
      bool binary = entry.task == Task::kBinary;
      Matrix x;
      std::vector<double> y;
      tiny_data(x, y, binary);
      ParamMap small;
      if (entry.name == "xgboost" || entry.name == "rf") small["n_estimators"] = "20";
      if (entry.name == "elasticnet") small["alpha"] = "0.001";
      std::unique_ptr<Estimator> holder;
      std::vector<double> before;
      auto file = tmp / (task_name(entry.task) + "-" + entry.name);
      if (binary) {
        auto m = entry.make_classifier(small);
        CHECK_FALSE(m->is_fitted());
        m->fit(x, y);
        CHECK(m->is_fitted());
        before = m->predict_proba(x);
        m->save(file);
        auto loaded = entry.make_classifier(small);
        loaded->load(file);
        std::vector<double> after = loaded->predict_proba(x);
        REQUIRE(after.size() == before.size());
        // libsvm writes support vectors with 8 significant digits, so allow rounding there.
        for (std::size_t i = 0; i < after.size(); ++i) CHECK(after[i] == Approx(before[i]).margin(1e-6));
        auto labels = m->predict(x);
        double correct = 0;
        for (std::size_t i = 0; i < y.size(); ++i) correct += labels[i] == static_cast<int>(y[i]);
        CHECK(correct / static_cast<double>(y.size()) > 0.8);  // learns a linear boundary on its training rows
        for (double p : before) CHECK((p >= 0.0 && p <= 1.0));
      } else {
        auto m = entry.make_regressor(small);
        m->fit(x, y);
        before = m->predict(x);
        m->save(file);
        auto loaded = entry.make_regressor(small);
        loaded->load(file);
        std::vector<double> after = loaded->predict(x);
        REQUIRE(after.size() == before.size());
        // libsvm writes support vectors with 8 significant digits, so allow rounding there.
        for (std::size_t i = 0; i < after.size(); ++i) CHECK(after[i] == Approx(before[i]).margin(1e-6));
        CHECK_THROWS_AS(m->predict(Matrix(2, 4)), ValueError);  // wrong column count
        for (double p : before) CHECK(std::isfinite(p));
        // Parameters round-trip through their saved JSON.
        auto rebuilt = entry.make_regressor(param_map_from_json(m->parameters()));
        CHECK(rebuilt->parameters() == m->parameters());
      }
      CHECK(before.size() == 60);
    }
  }
}

TEST_CASE("models reject bad training data with clear messages", "[classic]") {
  Matrix x(4, 2, 1.0);
  x(1, 0) = 2;
  x(2, 1) = 3;
  CHECK_THROWS_WITH(make_regressor("svr")->fit(x, {1, 1, 1, 1}), Catch::Contains("svr: the target is constant"));
  CHECK_THROWS_WITH(make_regressor("elasticnet")->fit(x, {1, 2, 3}), Catch::Contains("4 feature rows but 3 targets"));
  CHECK_THROWS_WITH(make_classifier("xgboost")->fit(x, {1, 1, 1, 1}), Catch::Contains("needs both classes"));
  CHECK_THROWS_WITH(make_classifier("svc")->fit(x, {0, 1, 2, 1}), Catch::Contains("label of row 2 is 2"));
  Matrix bad = x;
  bad(3, 1) = std::nan("");
  CHECK_THROWS_WITH(make_regressor("rf")->fit(bad, {1, 2, 3, 4}), Catch::Contains("row 3, column 1 is not a finite"));
  CHECK_THROWS_AS(make_regressor("svr")->predict(x), ValueError);  // before fit
  CHECK_THROWS_AS(make_regressor("xgboost")->save("/nonexistent/x.json"), ValueError);
}
