// evaluate(), its JSON / text / Markdown forms, reading prediction files, and the report folder.
#include <catch2/catch.hpp>

#include <filesystem>

#include "support/eval_data.hpp"
#include "support/checks.hpp"
#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/evaluation.hpp"
#include "tomograd/eval/prediction_file.hpp"
#include "tomograd/eval/report.hpp"
#include "tomograd/eval/summary.hpp"
#include "tomograd/eval/svg_plot.hpp"

using namespace tomograd;
using test::near;
using namespace tomograd::eval;
namespace fs = std::filesystem;

namespace {

PredictionSource source(const fs::path& file, TaskKind task, std::string y_true, std::vector<std::string> y_pred) {
  PredictionSource s;
  s.input = file;
  s.task = task;
  s.y_true = std::move(y_true);
  s.y_pred = std::move(y_pred);
  return s;
}

}  // namespace

TEST_CASE("evaluate binary: headline metrics, confusion, intervals and JSON keys", "[eval]") {
  Evaluation e = evaluate(test::binary_evaluation_data(), test::fast_evaluation());
  CHECK(e.metrics.value("auc").value() == near(0.8611111111111112));  // sklearn roc_auc_score 1.2.1
  CHECK(e.confusion == std::vector<std::vector<int64_t>>{{5, 1}, {2, 4}});
  REQUIRE(e.bootstrap);
  CHECK(e.bootstrap->units == 12);
  auto j = evaluation_json(e);
  for (const char* key : {"auc", "pr_auc", "accuracy", "balanced_accuracy", "f1", "sensitivity", "specificity", "ppv",
                          "npv", "log_loss", "ece"}) {
    INFO(key);
    CHECK(j[key].is_number());
    CHECK(j[std::string(key) + "_ci_low"].is_number());
    CHECK(j[std::string(key) + "_ci_high"].is_number());
    CHECK(j[std::string(key) + "_ci_low"].get<double>() <= j[std::string(key) + "_ci_high"].get<double>());
  }
  CHECK(j["task"] == "binary");
  CHECK(j["n"] == 12);
  CHECK(j["threshold"] == 0.5);
  CHECK(j["bootstrap"]["resamples"] == 50);
  CHECK(j["confusion_matrix"][1][1] == 4);
  // Same seed, same intervals.
  Evaluation again = evaluate(test::binary_evaluation_data(), test::fast_evaluation());
  CHECK(again.metrics.at("auc").ci->low.value() == e.metrics.at("auc").ci->low.value());
  // No bootstrap: no _ci keys.
  auto none = evaluation_json(evaluate(test::binary_evaluation_data(), test::fast_evaluation(0)));
  CHECK_FALSE(none.contains("auc_ci_low"));
  CHECK(none["bootstrap"].is_null());
  std::string text = format_text(e);
  CHECK_THAT(text, Catch::Contains("AUC-ROC (auc)") && Catch::Contains("95% CI") && Catch::Contains("confusion matrix"));
  CHECK_THAT(markdown_summary(e), Catch::Contains("| AUC-ROC | `auc` |"));
  std::string csv = predictions_csv(e);
  CHECK_THAT(csv, Catch::StartsWith("id,y_true,score,predicted\nP0,0,0.1,0\n"));
}

TEST_CASE("evaluate reports undefined metrics as null with a reason", "[eval]") {
  EvaluationData d;
  d.task = TaskKind::kRegression;
  d.y_true = {2.5, 2.5, 2.5, 2.5};
  d.y_pred = {{2.4}, {2.6}, {2.5}, {2.7}};
  Evaluation e = evaluate(d, test::fast_evaluation(20));
  CHECK_FALSE(e.metrics.value("r2").defined());
  auto j = evaluation_json(e);
  CHECK(j["r2"].is_null());
  CHECK(j["r2_ci_low"].is_null());
  CHECK_THAT(j["undefined"]["r2"].get<std::string>(), Catch::Contains("constant"));
  CHECK(j["mae"].get<double>() == near(0.1));
  CHECK_THAT(format_text(e), Catch::Contains("undefined:") && Catch::Contains("r2: y_true is constant"));
  CHECK(format_text(e).find("nan") == std::string::npos);

  EvaluationData b = test::binary_evaluation_data();
  for (auto& y : b.y_true) y = 1;
  Evaluation one = evaluate(b, test::fast_evaluation(20));
  CHECK_FALSE(one.metrics.value("auc").defined());
  CHECK_THAT(one.metrics.value("auc").reason(), Catch::Contains("only one class"));
}

TEST_CASE("evaluate multiclass and slice-level bootstrap groups", "[eval]") {
  EvaluationData d;
  d.task = TaskKind::kMulticlass;
  d.y_true = {0, 1, 2, 2, 1, 0, 1, 2, 0, 1};
  d.y_pred = {{0.7, 0.2, 0.1}, {0.2, 0.5, 0.3}, {0.1, 0.3, 0.6}, {0.3, 0.4, 0.3}, {0.1, 0.8, 0.1},
              {0.5, 0.3, 0.2}, {0.3, 0.3, 0.4}, {0.2, 0.2, 0.6}, {0.4, 0.4, 0.2}, {0.25, 0.5, 0.25}};
  d.pred_names = {"normal", "moderate", "severe"};
  d.bootstrap_groups = {"a", "a", "b", "b", "c", "c", "d", "d", "e", "e"};
  Evaluation e = evaluate(d, test::fast_evaluation(40));
  CHECK(e.bootstrap->units == 5);
  CHECK(e.data.class_names == d.pred_names);
  CHECK(e.metrics.value("log_loss").value() == near(0.7005147624990786));  // sklearn log_loss 1.2.1
  CHECK(e.per_class.size() == 3);
  auto j = evaluation_json(e);
  CHECK(j["per_class"][2]["class"] == "severe");
  CHECK(j["confusion_matrix_labels"][0] == "normal");
  CHECK_THAT(predictions_csv(e), Catch::Contains("predicted") && Catch::Contains(",normal\n"));
}

TEST_CASE("evaluate rejects inconsistent data", "[eval]") {
  EvaluationData d = test::binary_evaluation_data();
  d.y_true[3] = 2;
  CHECK_THROWS_WITH(evaluate(d, test::fast_evaluation()), Catch::Contains("row 'P3'") && Catch::Contains("0 or 1"));
  d = test::binary_evaluation_data();
  d.y_pred.pop_back();
  CHECK_THROWS_WITH(evaluate(d, test::fast_evaluation()), Catch::Contains("mismatched lengths"));
  d = test::binary_evaluation_data();
  d.y_pred[0] = {0.1, 0.9};
  CHECK_THROWS_WITH(evaluate(d, test::fast_evaluation()), Catch::Contains("exactly one prediction column"));
  d = test::binary_evaluation_data();
  d.task = TaskKind::kMulticlass;
  CHECK_THROWS_WITH(evaluate(d, test::fast_evaluation()), Catch::Contains("at least 2"));
  CHECK_THROWS_WITH(parse_task_kind("ordinal"), Catch::Contains("valid: regression, binary, multiclass"));
}

TEST_CASE("load_predictions: groups, class names and a labels file", "[eval]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "slices.csv",
                    "patient,slice,label,prob\nA,1,1,0.2\nA,2,1,0.9\nB,1,0,0.1\nB,2,0,0.3\nC,1,1,0.6\n");
  auto s = source(tmp / "slices.csv", TaskKind::kBinary, "label", {"prob"});
  s.group = "patient";
  s.aggregation = Aggregation::parse("max");
  EvaluationData d = load_predictions(s);
  CHECK(d.ids == std::vector<std::string>{"A", "B", "C"});
  CHECK(d.y_pred == std::vector<std::vector<double>>{{0.9}, {0.3}, {0.6}});
  CHECK(d.y_true == std::vector<double>{1, 0, 1});
  CHECK_THAT(d.description, Catch::Contains("3 groups by 'patient', max of 5 rows"));
  // Repeated ids without --group: rows stay, the bootstrap resamples ids.
  auto r = source(tmp / "slices.csv", TaskKind::kBinary, "label", {"prob"});
  r.id = "patient";
  EvaluationData rows = load_predictions(r);
  CHECK(rows.y_true.size() == 5);
  CHECK(rows.bootstrap_groups.size() == 5);

  write_file_atomic(tmp / "mc.csv", "id,grade,normal,moderate,severe\n1,moderate,0.2,0.7,0.1\n2,0,0.6,0.3,0.1\n3,2,0.1,0.1,0.8\n");
  EvaluationData m = load_predictions(source(tmp / "mc.csv", TaskKind::kMulticlass, "grade", {"normal", "moderate", "severe"}));
  CHECK(m.y_true == std::vector<double>{1, 0, 2});
  CHECK(m.class_names == std::vector<std::string>{"normal", "moderate", "severe"});

  write_file_atomic(tmp / "labels.csv", "patient,bmd\nC,1.1\nA,0.9\nB,1.0\n");
  write_file_atomic(tmp / "preds.csv", "patient,pred\nA,0.95\nB,1.02\nC,1.0\n");
  auto l = source(tmp / "preds.csv", TaskKind::kRegression, "bmd", {"pred"});
  l.id = "patient";
  l.labels = tmp / "labels.csv";
  CHECK(load_predictions(l).y_true == std::vector<double>{0.9, 1.0, 1.1});
}

TEST_CASE("load_predictions: bad input gives errors naming file, line and column", "[eval]") {
  test::TempDir tmp;
  auto bin = [&](const std::string& name) { return source(tmp / name, TaskKind::kBinary, "label", {"prob"}); };
  write_file_atomic(tmp / "empty.csv", "");
  CHECK_THROWS_WITH(load_predictions(bin("empty.csv")), Catch::Contains("empty.csv") && Catch::Contains("empty"));
  write_file_atomic(tmp / "header.csv", "label,prob\n");
  CHECK_THROWS_WITH(load_predictions(bin("header.csv")), Catch::Contains("no data rows"));
  write_file_atomic(tmp / "p.csv", "label,score\n1,0.5\n");
  CHECK_THROWS_WITH(load_predictions(bin("p.csv")), Catch::Contains("missing column 'prob'") && Catch::Contains("label, score"));
  write_file_atomic(tmp / "text.csv", "label,prob\n1,0.5\n0,abc\n");
  CHECK_THROWS_WITH(load_predictions(bin("text.csv")),
                    Catch::Contains("text.csv: line 3, column 'prob'") && Catch::Contains("'abc'"));
  write_file_atomic(tmp / "nan.csv", "label,prob\n1,0.5\n0,0.2\n1,NaN\n");
  CHECK_THROWS_WITH(load_predictions(bin("nan.csv")), Catch::Contains("line 4, column 'prob'") && Catch::Contains("NaN"));
  write_file_atomic(tmp / "lab.csv", "label,prob\n1,0.5\n2,0.2\n");
  CHECK_THROWS_WITH(load_predictions(bin("lab.csv")), Catch::Contains("line 3, column 'label'") &&
                                                          Catch::Contains("binary label 0 or 1, got '2'"));
  write_file_atomic(tmp / "reg.csv", "y,p\n1.5,1\n,2\n");
  CHECK_THROWS_WITH(load_predictions(source(tmp / "reg.csv", TaskKind::kRegression, "y", {"p"})),
                    Catch::Contains("line 3, column 'y'"));
  write_file_atomic(tmp / "mc.csv", "y,a,b\nc,0.5,0.5\n");
  CHECK_THROWS_WITH(load_predictions(source(tmp / "mc.csv", TaskKind::kMulticlass, "y", {"a", "b"})),
                    Catch::Contains("class index 0..1 or a class name (a, b), got 'c'"));
  CHECK_THROWS_WITH(load_predictions(source(tmp / "mc.csv", TaskKind::kMulticlass, "y", {"a"})),
                    Catch::Contains("at least 2"));
  CHECK_THROWS_WITH(load_predictions(source(tmp / "reg.csv", TaskKind::kRegression, "y", {"p", "p"})),
                    Catch::Contains("exactly one"));
  // Group whose rows disagree on the target.
  write_file_atomic(tmp / "g.csv", "pid,label,prob\nA,1,0.5\nA,0,0.2\n");
  auto g = bin("g.csv");
  g.group = "pid";
  CHECK_THROWS_WITH(load_predictions(g), Catch::Contains("group 'A'") && Catch::Contains("g.csv: line 2") &&
                                             Catch::Contains("line 3"));
  // Ids that differ between predictions and labels: both directions listed.
  write_file_atomic(tmp / "labels.csv", "pid,label\nA,1\nB,0\nZ,1\n");
  write_file_atomic(tmp / "preds.csv", "pid,prob\nA,0.5\nB,0.2\nC,0.3\n");
  auto j = bin("preds.csv");
  j.id = "pid";
  j.labels = tmp / "labels.csv";
  CHECK_THROWS_WITH(load_predictions(j), Catch::Contains("do not match") && Catch::Contains("have no label (C)") &&
                                             Catch::Contains("have no prediction (Z)"));
  write_file_atomic(tmp / "labels.csv", "pid,label\nA,1\nB,0\nA,1\n");
  CHECK_THROWS_WITH(load_predictions(j), Catch::Contains("line 4: id 'A' appears again"));
  j.id.clear();
  CHECK_THROWS_WITH(load_predictions(j), Catch::Contains("needs an id column"));
}

TEST_CASE("write_report writes every file, atomically, and never overwrites by default", "[eval]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "history.csv", "epoch,train_loss,val_loss,val_auc,lr,phase\n1,0.9,1.0,0.6,0.001,a\n"
                                         "2,0.6,0.8,0.7,0.001,b\n3,0.4,0.7,,0.0005,c\n");
  Evaluation e = evaluate(test::binary_evaluation_data(), test::fast_evaluation(30));
  ReportOptions o;
  o.history_csv = tmp / "history.csv";
  o.title = "Test <report>";
  ReportFiles f = write_report(tmp / "out", e, o);
  for (const auto& p : {f.metrics_json, f.predictions_csv, f.summary_md, f.report_html}) {
    INFO(p);
    CHECK(fs::file_size(p) > 100);
  }
  std::vector<std::string> names;
  for (const auto& p : f.plots) names.push_back(p.stem().string());
  CHECK(names == std::vector<std::string>{"training_loss", "training_metrics", "roc_curve", "pr_curve", "confusion_matrix",
                                          "calibration_curve"});
  std::string html = read_file(f.report_html);
  for (const char* t : {"Metrics", "Training curves: loss", "ROC curve", "Precision–recall curve", "Confusion matrix",
                        "Calibration curve", "Test &lt;report&gt;", "operating point"}) {
    INFO(t);
    CHECK_THAT(html, Catch::Contains(t));
  }
  CHECK(html.find("http://") == html.find("http://www.w3.org/2000/svg"));  // no external resource
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("nan") == std::string::npos);
  CHECK_THAT(read_file(f.plots[2]), Catch::StartsWith("<?xml") && Catch::Contains("</svg>"));
  // Existing files are kept unless overwriting is allowed.
  CHECK_THROWS_WITH(write_report(tmp / "out", e, o), Catch::Contains("refusing to overwrite"));
  o.overwrite = Overwrite::kAllow;
  CHECK_NOTHROW(write_report(tmp / "out", e, o));
  // A bad history file: error, and nothing new written.
  write_file_atomic(tmp / "bad.csv", "epoch,phase\n1,a\n");
  o.history_csv = tmp / "bad.csv";
  CHECK_THROWS_WITH(write_report(tmp / "out2", e, o), Catch::Contains("no numeric columns"));
  CHECK_FALSE(fs::exists(tmp / "out2" / "metrics.json"));
}

TEST_CASE("report plots for regression and multiclass", "[eval]") {
  EvaluationData d;
  d.task = TaskKind::kRegression;
  d.y_true = {1.0, 1.2, 0.8, 1.1, 0.9, 1.3};
  d.y_pred = {{1.05}, {1.1}, {0.85}, {1.2}, {0.95}, {1.25}};
  auto plots = report_plots(evaluate(d, test::fast_evaluation(0)));
  REQUIRE(plots.size() == 3);
  CHECK(plots[0].title == "Predicted vs actual");
  CHECK_THAT(plots[0].svg, Catch::Contains("identity") && Catch::Contains("fit: y ="));
  CHECK(plots[1].title == "Bland–Altman");
  CHECK_THAT(plots[1].svg, Catch::Contains("bias"));
  CHECK(plots[2].title == "Residual histogram");
  CHECK_THAT(plots[2].svg, Catch::Contains("<rect"));

  EvaluationData m;
  m.task = TaskKind::kMulticlass;
  m.y_true = {0, 1, 2, 1};
  m.y_pred = {{0.8, 0.1, 0.1}, {0.2, 0.7, 0.1}, {0.1, 0.2, 0.7}, {0.5, 0.4, 0.1}};
  auto mp = report_plots(evaluate(m, test::fast_evaluation(0)));
  std::vector<std::string> names;
  for (const auto& p : mp) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"confusion_matrix", "roc_curve", "calibration_curve"});
}

TEST_CASE("SVG helpers: ticks, escaping and a chart", "[eval]") {
  CHECK(nice_ticks(0, 1, 5) == std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1});
  CHECK(nice_ticks(-3, 7, 5) == std::vector<double>{-2, 0, 2, 4, 6});
  CHECK(xml_escape("a<b & \"c\"") == "a&lt;b &amp; &quot;c&quot;");
  SvgPlot p("T", "x", "y");
  std::string svg = p.line({0, 1, std::nan(""), 3}, {0, 1, 2, 3}, "l").marker(1, 1, "m").render(300, 200);
  CHECK_THAT(svg, Catch::StartsWith("<svg xmlns=\"http://www.w3.org/2000/svg\"") && Catch::Contains("<title>T</title>"));
  CHECK(svg.find("nan") == std::string::npos);
  CHECK_THROWS_AS(p.line({1}, {1, 2}, "bad"), ValueError);
  std::string cm = confusion_matrix_svg({{5, 1}, {2, 4}}, {"neg", "pos"}, "CM");
  CHECK_THAT(cm, Catch::Contains("83.3%") && Catch::Contains(">neg<"));
}

TEST_CASE("every report names the split, the patients, the threshold's origin and the interval method", "[eval]") {
  EvaluationData d = test::binary_evaluation_data();
  d.split = "test";
  EvaluationOptions o = test::fast_evaluation(40);
  o.threshold = 0.42;
  o.threshold_source = "chosen on the 7 validation patients (max_f1), not on these";
  const Evaluation e = evaluate(d, o);
  auto j = evaluation_json(e);
  CHECK(j["split"] == "test");
  CHECK(j["n_patients"] == 12);
  CHECK(j["threshold_source"] == "chosen on the 7 validation patients (max_f1), not on these");
  CHECK_THAT(j["interval_method"].get<std::string>(),
             Catch::Contains("95% percentile bootstrap") && Catch::Contains("40 resamples of the 12 patients"));
  const std::string md = markdown_summary(e);
  CHECK_THAT(md, Catch::Contains("- Split: test (12 patients)") && Catch::Contains("not on these") &&
                     Catch::Contains("- Intervals: 95% percentile bootstrap"));
  CHECK_THAT(format_text(e), Catch::Contains("split: test, 12 patients"));
  const std::string html = report_html(e, {}, "t");
  CHECK_THAT(html, Catch::Contains("Split: <b>test</b>, 12 patients") && Catch::Contains("not on these"));

  // Slices as rows: patients are the distinct bootstrap groups.
  EvaluationData s = test::binary_evaluation_data();
  for (int i = 0; i < 12; ++i) s.bootstrap_groups.push_back("P" + std::to_string(i / 3));
  const Evaluation se = evaluate(s, test::fast_evaluation(0));
  auto sj = evaluation_json(se);
  CHECK(sj["n"] == 12);
  CHECK(sj["n_patients"] == 4);
  CHECK(sj["split"] == "unspecified");
  CHECK_THAT(sj["interval_method"].get<std::string>(), Catch::Contains("none"));

  // Regression: no threshold, said in words.
  EvaluationData r;
  r.task = TaskKind::kRegression;
  r.y_true = {1, 2, 3, 4};
  r.y_pred = {{1.1}, {1.9}, {3.2}, {3.9}};
  r.split = "out-of-fold";
  auto rj = evaluation_json(evaluate(r, test::fast_evaluation(0)));
  CHECK(rj["split"] == "out-of-fold");
  CHECK_THAT(rj["threshold_source"].get<std::string>(), Catch::Contains("no decision threshold"));
  CHECK_FALSE(rj.contains("threshold"));
}
