// The installation check behind `tomograd doctor`: every registered model learns a tiny problem.
#include <catch2/catch.hpp>

#include "tomograd/classic/self_check.hpp"
#include "tomograd/core/error.hpp"

using namespace tomograd;
using namespace tomograd::classic;

TEST_CASE("every registered classic model passes its self check", "[classic]") {
  REQUIRE(model_registry().entries().size() >= 7);
  for (const auto& entry : model_registry().entries()) {
    INFO(task_name(entry.task) << " " << entry.name);
    std::string detail;
    REQUIRE_NOTHROW(detail = self_check(entry));
    CHECK_THAT(detail, Catch::Contains("20 rows"));
  }
}

TEST_CASE("the self check fails a model that has not learnt", "[classic]") {
  // ElasticNet with an overwhelming penalty predicts the mean: no correlation with y.
  ModelEntry flat = model_registry().get("elasticnet", Task::kRegression);
  flat.make_regressor = [](const ParamMap&) { return make_regressor("elasticnet", {{"alpha", "1e9"}}); };
  CHECK_THROWS_WITH(self_check(flat), Catch::Contains("regression model 'elasticnet'") &&
                                          Catch::Contains("expected >= 0.9"));
}

TEST_CASE("backend versions name XGBoost and libsvm", "[classic]") {
  auto v = backend_versions();
  REQUIRE(v.size() == 2);
  CHECK(v[0].first == "xgboost");
  CHECK(v[1].first == "libsvm");
  CHECK_THAT(v[0].second, Catch::Matches(R"(\d+\.\d+\.\d+)"));
  CHECK_THAT(v[1].second, Catch::Matches(R"(\d+\.\d+)"));
}
