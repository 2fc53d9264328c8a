// Patient-level aggregation and the patient bootstrap.
#include <catch2/catch.hpp>

#include <cmath>
#include <mutex>
#include <numeric>
#include <set>

#include "support/checks.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/aggregation.hpp"
#include "tomograd/eval/binary.hpp"
#include "tomograd/eval/bootstrap.hpp"

using namespace tomograd;
using test::near;
using namespace tomograd::eval;

TEST_CASE("aggregation of slice predictions, by hand", "[eval]") {
  std::vector<double> v{0.1, 0.9, 0.5};
  CHECK(aggregate(v, Aggregation::parse("mean")) == near(0.5));
  CHECK(aggregate(v, Aggregation::parse("max")) == near(0.9));
  CHECK(aggregate(v, Aggregation::parse("topk:2")) == near(0.7));
  CHECK(aggregate(v, Aggregation::parse("topk:10")) == near(0.5));  // fewer than k: all
  CHECK(aggregate({0.5, 0.5}, Aggregation::parse("noisy_or")) == near(0.75));
  CHECK(aggregate({0.2, 0.5}, Aggregation::parse("noisy_or")) == near(1 - 0.8 * 0.5));
  CHECK(Aggregation::parse("topk:3").name() == "topk:3");
  CHECK_THROWS_WITH(Aggregation::parse("median"), Catch::Contains("valid: mean, max, topk:<k>"));
  CHECK_THROWS_AS(Aggregation::parse("topk:0"), ValueError);
  CHECK_THROWS_AS(Aggregation::parse("topk:1.5"), ValueError);
  CHECK_THROWS_WITH(aggregate({0.5, 1.5}, Aggregation::parse("noisy_or")), Catch::Contains("[0, 1]"));
}

TEST_CASE("aggregate_by_group keeps first-appearance order and checks targets", "[eval]") {
  std::vector<std::string> g{"P2", "P1", "P2", "P1", "P3"};
  std::vector<double> y{1, 0, 1, 0, 1};
  std::vector<std::vector<double>> p{{0.9}, {0.2}, {0.5}, {0.4}, {0.7}};
  GroupedPredictions out = aggregate_by_group(g, y, p, Aggregation::parse("max"));
  CHECK(out.groups == std::vector<std::string>{"P2", "P1", "P3"});
  CHECK(out.y_true == std::vector<double>{1, 0, 1});
  CHECK(out.y_pred == std::vector<std::vector<double>>{{0.9}, {0.4}, {0.7}});
  CHECK(out.rows_per_group == std::vector<std::size_t>{2, 2, 1});
  // Multi-column: each column on its own.
  GroupedPredictions m = aggregate_by_group({"a", "a"}, {0, 0}, {{0.2, 0.8}, {0.6, 0.4}}, Aggregation{});
  CHECK(m.y_pred[0][0] == near(0.4));
  CHECK(m.y_pred[0][1] == near(0.6));
  y[2] = 0;
  CHECK_THROWS_WITH(aggregate_by_group(g, y, p, Aggregation{},
                                       [](std::size_t r) { return "preds.csv: line " + std::to_string(r + 2); }),
                    Catch::Contains("group 'P2'") && Catch::Contains("line 2") && Catch::Contains("line 4"));
  CHECK_THROWS_WITH(aggregate_by_group({"a"}, {0, 1}, {{0.1}, {0.2}}, Aggregation{}), Catch::Contains("mismatched"));
}

TEST_CASE("percentile interpolation matches numpy.percentile", "[eval]") {
  // numpy.percentile([1, 2, 3, 4, 10], [2.5, 97.5]) (numpy 1.24.2) = [1.1, 9.399999999999999]
  std::vector<double> v{1, 2, 3, 4, 10};
  CHECK(percentile_sorted(v, 0.025) == near(1.1));
  CHECK(percentile_sorted(v, 0.975) == near(9.399999999999999));
  CHECK(percentile_sorted({7}, 0.5) == 7);
  CHECK_THROWS_AS(percentile_sorted({}, 0.5), ValueError);
}

TEST_CASE("bootstrap resamples whole patients and is reproducible", "[eval]") {
  // Patient A has 3 rows, B has 1: a resample holds 6 (AA), 4 (AB) or 2 (BB) rows, never 3 or 5.
  auto units = units_from_groups({"A", "A", "B", "A"});
  REQUIRE(units.size() == 2);
  std::set<std::size_t> sizes;
  std::mutex mu;
  auto metrics = [&](const std::vector<std::size_t>& rows) {
    {
      std::lock_guard<std::mutex> lock(mu);
      sizes.insert(rows.size());
    }
    MetricTable t;
    t.set("rows", "rows", MetricValue::of(static_cast<double>(rows.size())));
    return t;
  };
  MetricTable table;
  table.set("rows", "rows", MetricValue::of(4));
  BootstrapOptions o;
  o.resamples = 200;
  o.seed = 7;
  o.progress = false;
  BootstrapSummary s = add_bootstrap_intervals(table, units, metrics, o);
  CHECK(s.units == 2);
  CHECK(sizes == std::set<std::size_t>{2, 4, 6});
  REQUIRE(table.at("rows").ci);
  CHECK(table.at("rows").ci->low.value() == 2);
  CHECK(table.at("rows").ci->high.value() == 6);
  CHECK(table.at("rows").ci->resamples_used == 200);

  // Same seed, different thread counts: identical intervals; another seed: different draws.
  std::vector<double> y{0, 1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0}, sc{0.2, 0.8, 0.3, 0.6, 0.9, 0.1, 0.4, 0.5, 0.35, 0.7, 0.55, 0.45};
  auto auc_table = [&](const std::vector<std::size_t>& rows) {
    std::vector<double> yy, ss;
    for (auto r : rows) yy.push_back(y[r]), ss.push_back(sc[r]);
    MetricTable t;
    t.set("auc", "AUC", roc_auc(yy, ss));
    return t;
  };
  auto run = [&](int threads, uint64_t seed) {
    std::vector<std::size_t> all(12);
    std::iota(all.begin(), all.end(), 0);
    MetricTable t = auc_table(all);
    BootstrapOptions b;
    b.resamples = 300;
    b.seed = seed;
    b.threads = threads;
    b.progress = false;
    add_bootstrap_intervals(t, units_from_rows(12), auc_table, b);
    return *t.at("auc").ci;
  };
  auto a1 = run(1, 42), a2 = run(2, 42), b1 = run(1, 43);
  CHECK(a1.low.value() == a2.low.value());
  CHECK(a1.high.value() == a2.high.value());
  CHECK(a1.resamples_used == a2.resamples_used);
  CHECK((a1.low.value() != b1.low.value() || a1.high.value() != b1.high.value()));
  double point = roc_auc(y, sc).value();
  CHECK(a1.low.value() <= point);
  CHECK(a1.high.value() >= point);
}

TEST_CASE("bootstrap skips and counts resamples where a metric is undefined", "[eval]") {
  // One positive among 8 patients: a resample misses it with probability (7/8)^8 ≈ 0.34.
  std::vector<double> y{1, 0, 0, 0, 0, 0, 0, 0}, sc{0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7};
  auto metrics = [&](const std::vector<std::size_t>& rows) {
    std::vector<double> yy, ss;
    for (auto r : rows) yy.push_back(y[r]), ss.push_back(sc[r]);
    MetricTable t;
    t.set("auc", "AUC", roc_auc(yy, ss));
    t.set("never", "never", MetricValue::undefined("never defined"));
    return t;
  };
  MetricTable table = metrics({0, 1, 2, 3, 4, 5, 6, 7});
  BootstrapOptions o;
  o.resamples = 400;
  o.progress = false;
  add_bootstrap_intervals(table, units_from_rows(8), metrics, o);
  const auto& ci = *table.at("auc").ci;
  CHECK(ci.resamples_used + ci.resamples_skipped == 400);
  CHECK(ci.resamples_skipped > 80);
  CHECK(ci.resamples_skipped < 200);
  CHECK(ci.high.value() == near(1.0));
  const auto& never = *table.at("never").ci;
  CHECK(never.resamples_used == 0);
  CHECK_FALSE(never.low.defined());
  CHECK_THAT(never.low.reason(), Catch::Contains("0 of 400"));
  o.confidence = 1.5;
  CHECK_THROWS_AS(add_bootstrap_intervals(table, units_from_rows(8), metrics, o), ValueError);
  o.confidence = 0.95;
  CHECK_THROWS_AS(add_bootstrap_intervals(table, {}, metrics, o), ValueError);
}
