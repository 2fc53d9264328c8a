// ElasticNet on four numbers whose answers are checked by hand, plus convergence behaviour.
#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>

#include "support/fixtures.hpp"
#include "tomograd/classic/elastic_net.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/log.hpp"

using namespace tomograd;
using namespace tomograd::classic;

// One feature x = 1,2,3,4 and y = 1,3,2,4. Centered: x' = -1.5,-0.5,0.5,1.5 (|x'|² = 5), y mean
// 2.5, x'·y' = 4, N = 4. The coordinate update is w = S(x'·y', alpha·l1_ratio·N) /
// (|x'|² + alpha·(1-l1_ratio)·N), S the soft threshold; with one feature it is exact after one pass.
TEST_CASE("ElasticNet: one feature, answers by hand", "[classic]") {
  Matrix x(4, 1, std::vector<double>{1, 2, 3, 4});
  std::vector<double> y{1, 3, 2, 4};
  SECTION("alpha 0.5, l1_ratio 0.5: w = (4-1)/(5+1) = 0.5, b = 2.5 - 2.5*0.5 = 1.25") {
    ElasticNet m(ElasticNetParams{0.5, 0.5, 1000, 1e-4});
    m.fit(x, y);
    CHECK(m.coef()[0] == Approx(0.5));
    CHECK(m.intercept() == Approx(1.25));
    CHECK(m.predict(x)[3] == Approx(3.25));
    CHECK(m.converged());
  }
  SECTION("lasso alpha 0.5: w = (4-2)/5 = 0.4") {
    ElasticNet m(ElasticNetParams{0.5, 1.0, 1000, 1e-4});
    m.fit(x, y);
    CHECK(m.coef()[0] == Approx(0.4));
    CHECK(m.intercept() == Approx(1.5));
  }
  SECTION("lasso alpha 2: |x'·y'| = 4 <= 8, so w = 0 and the intercept is the mean") {
    ElasticNet m(ElasticNetParams{2.0, 1.0, 1000, 1e-4});
    m.fit(x, y);
    CHECK(m.coef()[0] == 0.0);
    CHECK(m.intercept() == Approx(2.5));
  }
  SECTION("ridge alpha 1: w = 4/(5+4) = 4/9") {
    ElasticNet m(ElasticNetParams{1.0, 0.0, 1000, 1e-4});
    m.fit(x, y);
    CHECK(m.coef()[0] == Approx(4.0 / 9.0));
  }
}

TEST_CASE("ElasticNet: JSON model file round trip and errors", "[classic]") {
  test::TempDir tmp;
  Matrix x(5, 2, std::vector<double>{1, 0, 2, 1, 3, 0, 4, 1, 5, 0});
  std::vector<double> y{1.1, 2.3, 2.9, 4.2, 5.0};
  ElasticNet m(ElasticNetParams{0.01, 0.5, 1000, 1e-4});
  m.fit(x, y);
  m.save(tmp / "en.json");
  ElasticNet loaded;
  loaded.load(tmp / "en.json");
  CHECK(loaded.coef() == m.coef());
  CHECK(loaded.intercept() == m.intercept());
  CHECK(loaded.predict(x) == m.predict(x));
  CHECK(m.fitted_info()["nonzero_coefficients"] == 2);

  write_file_atomic(tmp / "bad.json", "{\"format\": \"something-else\"}");
  CHECK_THROWS_WITH(loaded.load(tmp / "bad.json"), Catch::Contains("not a tomograd ElasticNet model"));
  write_file_atomic(tmp / "broken.json", "{not json");
  CHECK_THROWS_WITH(loaded.load(tmp / "broken.json"), Catch::Contains("not valid JSON"));
  CHECK_THROWS_WITH(loaded.load(tmp / "missing.json"), Catch::Contains("is missing"));
}

TEST_CASE("ElasticNet: reports when max_iter is too small", "[classic]") {
  Matrix x(6, 3, std::vector<double>{1, 2, 0.5, 2, 1, 0.1, 3, 4, 0.9, 4, 3, 0.2, 5, 6, 0.3, 6, 5, 0.8});
  std::vector<double> y{1, 2, 3, 4, 5, 6.5};
  // The warning goes to the log once per setting, however many folds fit it again.
  std::ostringstream log;
  struct SinkScope {  // removes the sink however the test case ends: it writes to `log`
    explicit SinkScope(std::ostream& out) {
      logger()->sinks().push_back(std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    }
    ~SinkScope() { logger()->sinks().pop_back(); }
  } scope(log);
  auto warnings = [&log] {
    const std::string text = log.str();
    std::size_t n = 0;
    for (auto at = text.find("no convergence"); at != std::string::npos; at = text.find("no convergence", at + 1)) ++n;
    return n;
  };
  const double alpha = 1.2345e-6;  // a setting no other test fits
  ElasticNet m(ElasticNetParams{alpha, 0.5, 1, 1e-12});
  m.fit(x, y);  // warns, still usable
  CHECK_FALSE(m.converged());
  CHECK(m.num_iterations() == 1);
  CHECK(warnings() == 1);
  ElasticNet again(ElasticNetParams{alpha, 0.5, 1, 1e-12});
  again.fit(x, y);
  CHECK_FALSE(again.converged());
  CHECK(warnings() == 1);
  ElasticNet other(ElasticNetParams{alpha, 0.25, 1, 1e-12});
  other.fit(x, y);
  CHECK(warnings() == 2);
}
