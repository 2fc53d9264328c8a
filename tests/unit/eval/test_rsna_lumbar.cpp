// The RSNA 2024 lumbar metric against the competition procedure run with scikit-learn 1.2.1.
#include <catch2/catch.hpp>

#include "support/checks.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/rsna_lumbar.hpp"

using namespace tomograd;
using test::near;
using namespace tomograd::eval;

namespace {

LumbarRow row(const std::string& id, int severity, std::array<double, 3> p) {
  LumbarRow r = parse_lumbar_row_id(id);
  r.severity = severity;
  r.probabilities = p;
  return r;
}

// Four studies, two spinal levels and three other rows each; some prediction rows do not sum to 1
// (1002 right foraminal: 2/1/1) and some hold zeros.
std::vector<LumbarRow> fixture() {
  return {
      row("1001_spinal_canal_stenosis_l1_l2", 0, {0.8, 0.15, 0.05}),
      row("1001_spinal_canal_stenosis_l4_l5", 2, {0.2, 0.3, 0.5}),
      row("1001_left_neural_foraminal_narrowing_l4_l5", 1, {0.3, 0.6, 0.1}),
      row("1001_right_neural_foraminal_narrowing_l4_l5", 0, {0.9, 0.05, 0.05}),
      row("1001_left_subarticular_stenosis_l4_l5", 1, {0.5, 0.4, 0.1}),
      row("1002_spinal_canal_stenosis_l1_l2", 0, {0.95, 0.04, 0.01}),
      row("1002_spinal_canal_stenosis_l4_l5", 1, {0.4, 0.5, 0.1}),
      row("1002_left_neural_foraminal_narrowing_l4_l5", 2, {0.2, 0.2, 0.6}),
      row("1002_right_neural_foraminal_narrowing_l4_l5", 1, {2.0, 1.0, 1.0}),
      row("1002_left_subarticular_stenosis_l4_l5", 0, {0.7, 0.2, 0.1}),
      row("1003_spinal_canal_stenosis_l1_l2", 0, {0.6, 0.3, 0.1}),
      row("1003_spinal_canal_stenosis_l4_l5", 0, {0.5, 0.3, 0.4}),
      row("1003_left_neural_foraminal_narrowing_l4_l5", 0, {1.0, 0.0, 0.0}),
      row("1003_right_neural_foraminal_narrowing_l4_l5", 2, {0.1, 0.3, 0.6}),
      row("1003_left_subarticular_stenosis_l4_l5", 2, {0.3, 0.3, 0.4}),
      row("1004_spinal_canal_stenosis_l1_l2", 2, {0.1, 0.2, 0.7}),
      row("1004_spinal_canal_stenosis_l4_l5", 1, {0.3, 0.4, 0.3}),
      row("1004_left_neural_foraminal_narrowing_l4_l5", 0, {0.6, 0.3, 0.1}),
      row("1004_right_neural_foraminal_narrowing_l4_l5", 0, {0.5, 0.5, 0.0}),
      row("1004_left_subarticular_stenosis_l4_l5", 1, {0.2, 0.7, 0.1}),
  };
}
}  // namespace

TEST_CASE("RSNA 2024 lumbar metric matches the competition procedure", "[eval]") {
  // Reference: the competition's scoring steps written out in Python with Debian's
  // python3-sklearn 1.2.1 — per condition sklearn.metrics.log_loss(one-hot labels, predictions,
  // sample_weight=2**severity); any_severe_spinal: per study label max(severity == 2), weight
  // max(2**severity), prediction max(severe) over spinal rows, sklearn.metrics.log_loss(labels,
  // predictions, sample_weight=weights) (labels [1, 0, 0, 1], weights [4, 2, 1, 4], predictions
  // [0.5, 0.1, 0.4, 0.7]); score = numpy.average(losses, weights=[1, 1, 1, 1]).
  LumbarScore s = rsna_lumbar_score(fixture());
  CHECK(s.spinal.value() == near(0.5674309706052851));
  CHECK(s.foraminal.value() == near(0.5384258834362431));
  CHECK(s.subarticular.value() == near(0.7297521358956808));
  CHECK(s.any_severe_spinal.value() == near(0.4473486502796686));
  CHECK(s.score.value() == near(0.5707394100542195));
  CHECK(s.studies == 4);
}

TEST_CASE("RSNA lumbar metric by hand and its edge cases", "[eval]") {
  // One study, one row per condition, all normal/mild predicted 0.5/0.25/0.25: every condition
  // loss is -ln 0.5; any-severe: label 0, prediction 0.25, weight 1 → -ln 0.75.
  std::vector<LumbarRow> rows{row("7_spinal_canal_stenosis_l1_l2", 0, {0.5, 0.25, 0.25}),
                              row("7_left_neural_foraminal_narrowing_l1_l2", 0, {0.5, 0.25, 0.25}),
                              row("7_right_subarticular_stenosis_l1_l2", 0, {0.5, 0.25, 0.25})};
  LumbarScore s = rsna_lumbar_score(rows);
  CHECK(s.spinal.value() == near(std::log(2.0)));
  CHECK(s.any_severe_spinal.value() == near(-std::log(0.75)));
  CHECK(s.score.value() == near((3 * std::log(2.0) - std::log(0.75)) / 4));
  // any_severe_scalar weights the fourth term.
  LumbarScore s2 = rsna_lumbar_score(rows, 2.0);
  CHECK(s2.score.value() == near((3 * std::log(2.0) - 2 * std::log(0.75)) / 5));
  // A missing condition group: that term and the score are undefined, with the reason.
  rows.pop_back();
  LumbarScore s3 = rsna_lumbar_score(rows);
  CHECK_FALSE(s3.subarticular.defined());
  CHECK_FALSE(s3.score.defined());
  CHECK_THAT(s3.score.reason(), Catch::Contains("no subarticular rows"));
  CHECK(parse_lumbar_row_id("123_left_neural_foraminal_narrowing_l5_s1").study_id == "123");
  CHECK(lumbar_condition_of("spinal_canal_stenosis_l1_l2") == LumbarCondition::kSpinal);
  CHECK_THROWS_WITH(parse_lumbar_row_id("123_knee_l1_l2"), Catch::Contains("no lumbar condition"));
  rows[0].severity = 3;
  CHECK_THROWS_WITH(rsna_lumbar_score(rows), Catch::Contains("severity 3"));
  rows[0].severity = 0;
  rows[0].probabilities[1] = -0.1;
  CHECK_THROWS_WITH(rsna_lumbar_score(rows), Catch::Contains(">= 0"));
}
