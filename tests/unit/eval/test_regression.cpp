// Regression metrics: hand-computed fixtures and scikit-learn / SciPy reference values.
#include <catch2/catch.hpp>

#include <cmath>

#include "support/checks.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/regression.hpp"

using namespace tomograd;
using test::near;
using namespace tomograd::eval;

TEST_CASE("regression metrics on four numbers, by hand", "[eval]") {
  // y_true 1 2 3 4, y_pred 1 2 3 5: one error of +1.
  std::vector<double> y{1, 2, 3, 4}, p{1, 2, 3, 5};
  CHECK(mean_absolute_error(y, p).value() == near(0.25));
  CHECK(mean_squared_error(y, p).value() == near(0.25));
  CHECK(root_mean_squared_error(y, p).value() == near(0.5));
  CHECK(r2_score(y, p).value() == near(0.8));  // 1 - 1 / SS_tot with SS_tot = 2.25+0.25+0.25+2.25 = 5
  CHECK(mean_absolute_percentage_error(y, p).value() == near(0.0625));  // (1/4) / 4
  BlandAltman b = bland_altman(y, p);
  CHECK(b.bias.value() == near(0.25));
  CHECK(b.sd.value() == near(0.5));  // sqrt((3 * 0.25² + 0.75²) / 3)
  CHECK(b.loa_low.value() == near(0.25 - 0.98));
  CHECK(b.loa_high.value() == near(0.25 + 0.98));
  CHECK(b.differences == std::vector<double>{0, 0, 0, 1});
  CHECK(b.means == std::vector<double>{1, 2, 3, 4.5});
  CHECK(average_ranks({10, 20, 20, 5}) == std::vector<double>{2, 3.5, 3.5, 1});
}

TEST_CASE("regression metrics match scikit-learn 1.2.1 and SciPy 1.10.1", "[eval]") {
  std::vector<double> y{3.1, 4.7, 2.0, 5.0, 6.2, 3.9, 4.4, 5.0};
  std::vector<double> p{2.9, 5.1, 2.4, 5.0, 6.8, 4.0, 4.0, 5.6};
  // Reference values: Debian bookworm python3-sklearn 1.2.1 / python3-scipy 1.10.1, numpy 1.24.2,
  // computed once on exactly these arrays.
  CHECK(r2_score(y, p).value() == near(0.8926923489644812));                     // sklearn.metrics.r2_score
  CHECK(mean_absolute_error(y, p).value() == near(0.3374999999999999));          // sklearn.metrics.mean_absolute_error
  CHECK(mean_squared_error(y, p).value() == near(0.1562499999999999));           // sklearn.metrics.mean_squared_error
  CHECK(root_mean_squared_error(y, p).value() == near(0.3952847075210473));      // mean_squared_error(squared=False)
  CHECK(mean_absolute_percentage_error(y, p).value() == near(0.08536835276368562));  // mean_absolute_percentage_error
  CHECK(pearson_r(y, p).value() == near(0.9691107991529117));                    // scipy.stats.pearsonr(...)[0]
  CHECK(spearman_rho(y, p).value() == near(0.9518072289156626));                 // scipy.stats.spearmanr(...)[0] (ties)
  MetricTable t = regression_metrics(y, p);
  for (const char* key : {"r2", "mae", "rmse", "mse", "pearson", "spearman", "mape", "bland_altman_bias",
                          "bland_altman_loa_low", "bland_altman_loa_high"}) {
    INFO(key);
    CHECK(t.value(key).defined());
  }
  CHECK(t.value("r2").value() == near(0.8926923489644812));
}

TEST_CASE("undefined regression metrics say why instead of returning nan", "[eval]") {
  std::vector<double> constant{3.5, 3.5, 3.5}, p{3.0, 3.6, 4.0};
  MetricValue r2 = r2_score(constant, p);
  CHECK_FALSE(r2.defined());
  CHECK_THAT(r2.reason(), Catch::Contains("y_true is constant") && Catch::Contains("3.5"));
  CHECK_THROWS_WITH(r2.value(), Catch::Contains("undefined") && Catch::Contains("constant"));
  CHECK_FALSE(pearson_r(constant, p).defined());
  CHECK_FALSE(spearman_rho(p, constant).defined());
  CHECK_THAT(spearman_rho(p, constant).reason(), Catch::Contains("y_pred is constant"));
  CHECK(mean_absolute_error(constant, p).defined());  // still fine
  MetricValue mape = mean_absolute_percentage_error({0.0, 2.0}, {1.0, 2.0});
  CHECK_FALSE(mape.defined());
  CHECK_THAT(mape.reason(), Catch::Contains("contains 0"));
  BlandAltman one = bland_altman({1.0}, {2.0});
  CHECK(one.bias.value() == near(1.0));
  CHECK_FALSE(one.loa_low.defined());
  MetricTable t = regression_metrics(constant, p);
  CHECK(t.undefined_keys() == std::vector<std::string>{"r2", "pearson", "spearman"});
  CHECK_FALSE(MetricValue::of(std::nan("")).defined());
}

TEST_CASE("regression metrics reject bad input with clear errors", "[eval]") {
  CHECK_THROWS_WITH(r2_score({1, 2, 3}, {1, 2}), Catch::Contains("mismatched lengths") && Catch::Contains("3") &&
                                                     Catch::Contains("2"));
  CHECK_THROWS_WITH(mean_absolute_error({}, {}), Catch::Contains("empty"));
  CHECK_THROWS_WITH(mean_squared_error({1, std::nan(""), 3}, {1, 2, 3}), Catch::Contains("y_true[1]") &&
                                                                             Catch::Contains("not finite"));
  CHECK_THROWS_AS(pearson_r({1, 2}, {1, INFINITY}), ValueError);
}
