// `lumbar evaluate`: oof.csv files and the evaluation of training runs from their out-of-fold
// predictions, on tiny runs written here.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cmath>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/rsna_lumbar.hpp"
#include "tomograd/tasks/lumbar/labels.hpp"
#include "tomograd/tasks/lumbar/evaluate.hpp"

using namespace tomograd;
using namespace tomograd::tasks::lumbar;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

/// 25 rows for each of @p studies studies; the label of study s at (condition c, level l) is
/// (s + c + l) % 3, so every cell sees all three grades once there are three studies. A
/// "perfect" run puts 0.98 on the true grade, otherwise the arg-max is always the next grade, by
/// a margin that varies between studies (so that bootstrap intervals have a width).
std::vector<OofRow> synthetic_rows(int studies, bool perfect) {
  std::vector<OofRow> rows;
  for (int s = 0; s < studies; ++s) {
    for (int c = 0; c < 5; ++c) {
      for (int l = 0; l < 5; ++l) {
        OofRow r;
        r.study_id = std::to_string(1000 + s);
        r.condition = c;
        r.level = l;
        r.label = (s + c + l) % 3;
        r.fold = s % 2;
        r.probabilities = {0.01, 0.01, 0.01};
        r.probabilities[r.label] = 0.98;
        if (!perfect) {
          const double wrong = 0.4 + 0.05 * (s % 4);
          r.probabilities = {0.0, 0.0, 0.0};
          r.probabilities[(r.label + 1) % 3] = wrong;
          r.probabilities[(r.label + 2) % 3] = 0.7 - wrong;
          r.probabilities[r.label] = 0.3;
        }
        rows.push_back(r);
      }
    }
  }
  return rows;
}

/// Writes @p rows as RUN/fold_<fold>/oof.csv files, plus a config.yaml when @p kind is not empty.
void write_run(const fs::path& run, const std::vector<OofRow>& rows, const std::string& kind = "",
               const std::string& arch = "") {
  for (int f = 0; f < 2; ++f) {
    std::vector<OofRow> fold;
    for (const auto& r : rows) {
      if (r.fold == f) fold.push_back(r);
    }
    fs::create_directories(run / ("fold_" + std::to_string(f)));
    write_oof(run / ("fold_" + std::to_string(f)) / "oof.csv", fold, false);
  }
  if (!kind.empty()) {
    write_file_atomic(run / "config.yaml", "input:\n  kind: " + kind + "\nmodel:\n  arch: " + arch + "\n");
  }
}

/// The competition score of the labelled rows, computed directly (condition groups by hand).
double direct_score(const std::vector<OofRow>& rows) {
  const eval::LumbarCondition group[5] = {eval::LumbarCondition::kSpinal, eval::LumbarCondition::kForaminal,
                                          eval::LumbarCondition::kForaminal, eval::LumbarCondition::kSubarticular,
                                          eval::LumbarCondition::kSubarticular};
  std::vector<eval::LumbarRow> l;
  for (const auto& r : rows) {
    if (r.label < 0) continue;
    eval::LumbarRow x;
    x.study_id = r.study_id;
    x.condition = group[r.condition];
    x.severity = r.label;
    x.probabilities = r.probabilities;
    l.push_back(x);
  }
  return eval::rsna_lumbar_score(l).score.value();
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(read_file(p)); }

}  // namespace

TEST_CASE("lumbar oof.csv: write_oof then read_oof gives the same rows", "[tasks][lumbar]") {
  test::TempDir tmp;
  std::vector<OofRow> rows = synthetic_rows(1, true);
  rows[3].label = -1;
  rows[4].probabilities = {1.0 / 3.0, 0.123456789012345, 1.0 - 1.0 / 3.0 - 0.123456789012345};
  write_oof(tmp / "oof.csv", rows, false);
  CHECK_THROWS_AS(write_oof(tmp / "oof.csv", rows, false), IoError);
  CHECK_NOTHROW(write_oof(tmp / "oof.csv", rows, true));
  CHECK(read_file(tmp / "oof.csv").rfind("study_id,condition,level,label,normal_mild,moderate,severe\n"
                                         "1000,spinal_canal_stenosis,l1_l2,0,0.98,0.01,0.01\n",
                                         0) == 0);
  const auto back = read_oof(tmp / "oof.csv", 3);
  REQUIRE(back.size() == rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(back[i].study_id == rows[i].study_id);
    CHECK(back[i].condition == rows[i].condition);
    CHECK(back[i].level == rows[i].level);
    CHECK(back[i].label == rows[i].label);
    CHECK(back[i].probabilities == rows[i].probabilities);  // exact: shortest round-trip digits
    CHECK(back[i].fold == 3);
    CHECK(back[i].line == i + 2);
  }
  CHECK(back[3].label == -1);
}

TEST_CASE("lumbar oof.csv: every bad row is named by file and line", "[tasks][lumbar]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "oof.csv",
                    "study_id,condition,level,label,normal_mild,moderate,severe\n"
                    "1,spinal_canal_stenosis,l1_l2,0,0.8,0.1,0.1\n"
                    "1,spinal_canal_stenosis,l2_l3,3,0.8,0.1,0.1\n"         // line 3: bad label
                    "1,spinal_stenosis,l3_l4,1,0.8,0.1,0.1\n"               // line 4: unknown condition
                    "1,spinal_canal_stenosis,l5_l6,1,0.8,0.1,0.1\n"         // line 5: unknown level
                    "1,spinal_canal_stenosis,l4_l5,,-0.1,0.1,nan\n"         // line 6: bad probabilities
                    "1,spinal_canal_stenosis,l1_l2,1,0.2,0.7,0.1\n");       // line 7: repeated
  try {
    read_oof(tmp / "oof.csv", 0);
    FAIL("expected CsvError");
  } catch (const CsvError& e) {
    const std::string m = e.what();
    CHECK_THAT(m, Contains("oof.csv"));
    CHECK_THAT(m, Contains("line 3"));
    CHECK_THAT(m, Contains("label is '3'"));
    CHECK_THAT(m, Contains("line 4"));
    CHECK_THAT(m, Contains("unknown condition 'spinal_stenosis'"));
    CHECK_THAT(m, Contains("line 5"));
    CHECK_THAT(m, Contains("unknown level 'l5_l6'"));
    CHECK_THAT(m, Contains("line 6"));
    CHECK_THAT(m, Contains("normal_mild must be a finite probability"));
    CHECK_THAT(m, Contains("severe must be a finite probability"));
    CHECK_THAT(m, Contains("line 7"));
    CHECK_THAT(m, Contains("listed twice (first on line 2)"));
  }
  write_file_atomic(tmp / "short.csv", "study_id,condition,level,normal_mild,moderate\n1,spinal_canal_stenosis,l1_l2,1,0\n");
  CHECK_THROWS_WITH(read_oof(tmp / "short.csv", 0), Contains("missing column 'label'") && Contains("missing column 'severe'"));
}

TEST_CASE("lumbar evaluate: two runs scored, masked rows ignored, the best ranked first", "[tasks][lumbar]") {
  test::TempDir tmp;
  const auto perfect = synthetic_rows(6, true);
  auto noisy = synthetic_rows(6, false);
  // Leave one cell out of the noisy run, then add it back without a label and with absurd
  // probabilities in a copy, with a study that has no label at all: nothing may change.
  const OofRow held = noisy.back();
  noisy.pop_back();
  auto masked = noisy;
  OofRow absurd = held;
  absurd.label = -1;
  absurd.probabilities = {0.0, 0.0, 1000.0};
  masked.push_back(absurd);
  for (int c = 0; c < 5; ++c) {
    OofRow r = absurd;
    r.study_id = "999";
    r.condition = c;
    r.level = 0;
    r.fold = 0;
    masked.push_back(r);
  }
  write_run(tmp / "runs" / "noisy", noisy);
  write_run(tmp / "runs" / "perfect", perfect, "sagittal", "resnet18");
  write_run(tmp / "runs" / "masked", masked, "axial", "densenet121");

  const fs::path out = tmp / "cmp";
  const fs::path written = evaluate_runs({tmp / "runs" / "noisy", tmp / "runs" / "perfect", tmp / "runs" / "masked"},
                                         out, 20, 7, false);
  CHECK(written == out);
  for (const char* run : {"noisy", "perfect", "masked"}) {
    for (const char* f : {"metrics.json", "auc.csv", "confusion.csv", "classification_report.csv", "report.md",
                          "report.html", "plots/confusion_spinal_canal_stenosis.svg"}) {
      INFO(run << "/eval/" << f);
      CHECK(fs::is_regular_file(tmp / "runs" / run / "eval" / f));
    }
  }
  // The report: the heat maps inline in the HTML, linked from the Markdown.
  const std::string html = read_file(tmp / "runs" / "noisy" / "eval" / "report.html");
  CHECK_THAT(html, Contains("<h2>Confusion matrices</h2>") && Contains("<svg") && Contains("Classification report"));
  CHECK_THAT(read_file(tmp / "runs" / "noisy" / "eval" / "report.md"),
             Contains("](plots/confusion_left_subarticular_stenosis.svg)"));
  for (const char* f : {"comparison.md", "comparison.json", "comparison.csv", "comparison.html"}) {
    CHECK(fs::is_regular_file(out / f));
  }

  const auto jn = read_json(tmp / "runs" / "noisy" / "eval" / "metrics.json");
  const auto jp = read_json(tmp / "runs" / "perfect" / "eval" / "metrics.json");
  const auto jm = read_json(tmp / "runs" / "masked" / "eval" / "metrics.json");
  CHECK(jn["score"].get<double>() == Approx(direct_score(noisy)).epsilon(1e-12));
  CHECK(jp["score"].get<double>() == Approx(direct_score(perfect)).epsilon(1e-12));
  CHECK(jn["studies"] == 6);
  CHECK(jn["labelled_rows"] == 149);
  CHECK(jn["folds"] == nlohmann::json::array({0, 1}));
  CHECK(jn["score_ci"].size() == 2);
  CHECK(jn["score_ci"][0].get<double>() < jn["score"].get<double>());
  CHECK(jn["score_ci"][1].get<double>() > jn["score"].get<double>());
  // Masking: the unlabelled rows change no metric and no count.
  CHECK(jm["score"].get<double>() == jn["score"].get<double>());
  CHECK(jm["any_severe_spinal"].get<double>() == jn["any_severe_spinal"].get<double>());
  CHECK(jm["score_ci"] == jn["score_ci"]);
  CHECK(jm["conditions"] == jn["conditions"]);
  CHECK(jm["studies"] == 6);
  CHECK(jm["labelled_rows"] == 149);
  CHECK(jm["unlabelled_rows"] == 6);
  // Perfect separation: every AUC is 1, the arg-max always right.
  CHECK(jp["auc_macro"].get<double>() == Approx(1.0));
  CHECK(jp["conditions"]["spinal_canal_stenosis"]["levels"]["l1_l2"]["auc_severe"].get<double>() == Approx(1.0));
  CHECK(jp["conditions"]["spinal_canal_stenosis"]["all"]["accuracy"].get<double>() == Approx(1.0));
  CHECK(jn["conditions"]["spinal_canal_stenosis"]["all"]["accuracy"].get<double>() == Approx(0.0));

  const auto cmp = read_json(out / "comparison.json");
  REQUIRE(cmp["runs"].size() == 3);
  CHECK(cmp["best"] == "perfect");
  CHECK(cmp["runs"][0]["name"] == "perfect");
  CHECK(cmp["runs"][0]["best"] == true);
  CHECK(cmp["runs"][0]["input_kind"] == "sagittal");
  CHECK(cmp["runs"][0]["arch"] == "resnet18");
  CHECK(cmp["runs"][1]["best"] == false);
  CHECK(cmp["runs"][1]["arch"] == "?");  // noisy has no config.yaml; first of the tie
  const CsvTable csv = CsvTable::read(out / "comparison.csv");
  CHECK(csv.strings("run").front() == "perfect");
  CHECK(csv.strings("best").front() == "1");
  CHECK_THAT(read_file(out / "comparison.md"), Contains("perfect (best)"));

  const CsvTable auc = CsvTable::read(tmp / "runs" / "perfect" / "eval" / "auc.csv");
  CHECK(auc.num_rows() == 30);
  CHECK(auc.header() == std::vector<std::string>{"condition", "level", "n", "auc_normal_mild", "auc_moderate",
                                                 "auc_severe", "auc_macro"});
  const CsvTable cm = CsvTable::read(tmp / "runs" / "noisy" / "eval" / "confusion.csv");
  REQUIRE(cm.num_rows() == 15);
  // Spinal, true normal/mild: predicted moderate every time (5 levels × 2 studies).
  CHECK(cm.row(0) == std::vector<std::string>{"spinal_canal_stenosis", "normal_mild", "0", "10", "0"});
  CHECK(CsvTable::read(tmp / "runs" / "noisy" / "eval" / "classification_report.csv").num_rows() == 15);

  // Existing outputs are refused before anything is written; --force replaces them.
  CHECK_THROWS_WITH(evaluate_runs({tmp / "runs" / "perfect"}, {}, 0, 0, false), Contains("pass --force"));
  CHECK(evaluate_runs({tmp / "runs" / "perfect"}, {}, 0, 0, true) == tmp / "runs" / "perfect" / "eval");
  CHECK(read_json(tmp / "runs" / "perfect" / "eval" / "metrics.json")["score_ci"].is_null());
}

TEST_CASE("lumbar evaluate: a run without oof.csv and bad arguments are refused", "[tasks][lumbar]") {
  test::TempDir tmp;
  fs::create_directories(tmp / "empty" / "fold_0");
  CHECK_THROWS_WITH(evaluate_runs({tmp / "empty"}, {}, 0, 0, false),
                    Contains("no fold_*/oof.csv; train at least one fold with lumbar train"));
  CHECK_THROWS_AS(evaluate_runs({}, tmp / "out", 0, 0, false), ValueError);
  write_run(tmp / "a", synthetic_rows(2, true));
  CHECK_THROWS_AS(evaluate_runs({tmp / "a", tmp / "a"}, tmp / "out", 0, 0, false), ValueError);
  CHECK_THROWS_AS(evaluate_runs({tmp / "a", tmp / "empty"}, {}, 0, 0, false), ValueError);
}

TEST_CASE("lumbar evaluate: an undefined AUC is null with its reason", "[tasks][lumbar]") {
  test::TempDir tmp;
  // Two studies: at spinal l1_l2 the labels are 0 and 1, so no study is severe there.
  write_run(tmp / "a", synthetic_rows(2, true));
  CHECK(evaluate_runs({tmp / "a"}, {}, 0, 0, false) == tmp / "a" / "eval");
  const auto j = read_json(tmp / "a" / "eval" / "metrics.json");
  const auto& cell = j["conditions"]["spinal_canal_stenosis"]["levels"]["l1_l2"];
  CHECK(cell["n"] == 2);
  CHECK(cell["auc_normal_mild"].get<double>() == Approx(1.0));
  CHECK(cell["auc_severe"].is_null());
  CHECK_THAT(cell["undefined"]["auc_severe"].get<std::string>(), Contains("absent"));
  CHECK(cell["auc_macro"].is_null());
  CHECK(j["score"].is_number());
  const CsvTable auc = CsvTable::read(tmp / "a" / "eval" / "auc.csv");
  CHECK(auc.row(0) == std::vector<std::string>{"spinal_canal_stenosis", "l1_l2", "2", "1", "1", "", ""});
  CHECK_THAT(read_file(tmp / "a" / "eval" / "report.md"), Contains("n/a"));
}

TEST_CASE("lumbar evaluate: prior-only baseline from the training folds, and the report's split", "[tasks][lumbar]") {
  test::TempDir tmp;
  // Six studies, folds by parity. A cell's labels over studies 1, 3, 5 are (1+c+l), (c+l), (2+c+l)
  // mod 3: every grade once, so fold 0's prior (from fold 1) is (1+1, 1+1, 1+1)/6 = uniform, and
  // the same for fold 1. Uniform probabilities give ln 3 for each condition's weighted log loss
  // and for any_severe_spinal (every study has a severe spinal level; max severe prob = 1/3).
  write_run(tmp / "run", synthetic_rows(6, true));
  evaluate_runs({tmp / "run"}, {}, 0, 1, false);
  const auto j = nlohmann::json::parse(read_file(tmp / "run" / "eval" / "metrics.json"));
  CHECK(j["prior_score"].get<double>() == Approx(std::log(3.0)).epsilon(1e-12));
  CHECK(j["score"].get<double>() < j["prior_score"].get<double>());  // the "perfect" run beats it
  CHECK(j["split"] == "out-of-fold");
  CHECK(j["n_patients"] == 6);
  CHECK_THAT(j["threshold_source"].get<std::string>(), Contains("none"));
  CHECK_THAT(j["interval_method"].get<std::string>(), Contains("none"));
  CHECK_THAT(read_file(tmp / "run" / "eval" / "report.md"), Contains("Prior-only baseline") &&
                                                               Contains("- Split: out-of-fold (6 studies"));

  // One fold only: the training folds' labels are not known, so no prior.
  std::vector<OofRow> one;
  for (const auto& r : synthetic_rows(6, true)) {
    if (r.fold == 0) one.push_back(r);
  }
  fs::create_directories(tmp / "single" / "fold_0");
  write_oof(tmp / "single" / "fold_0" / "oof.csv", one, false);
  evaluate_runs({tmp / "single"}, {}, 0, 1, false);
  const auto s = nlohmann::json::parse(read_file(tmp / "single" / "eval" / "metrics.json"));
  CHECK(s["prior_score"].is_null());
  CHECK_THAT(s["undefined"]["prior_score"].get<std::string>(), Contains("at least two folds"));
}
