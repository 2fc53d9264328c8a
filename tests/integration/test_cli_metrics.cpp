// tomograd metrics: exit codes, JSON keys, files written, error messages, and the HTML report
// rendered by headless Chromium.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "support/checks.hpp"
#include "support/cli.hpp"
#include "tomograd/core/atomic_file.hpp"

using namespace tomograd;
using test::near;
namespace fs = std::filesystem;
using test::run_command;
using test::shell_quote;
using test::tomograd_app;
using test::read_json;
using test::q;

namespace {

// 30 patients × 3 slices, labels alternate, slice probabilities noisy around the label.
void write_slices(const fs::path& path, uint32_t seed) {
  std::mt19937 gen(seed);
  std::ostringstream o;
  o << "patient_id,slice,label,prob\n";
  for (int p = 0; p < 30; ++p) {
    int label = p % 3 == 0 ? 1 : 0;
    for (int s = 0; s < 3; ++s) {
      double noise = static_cast<double>(gen() % 1000) / 1000.0;
      double prob = label ? 0.35 + 0.6 * noise : 0.5 * noise;
      o << "P" << p << "," << s << "," << label << "," << prob << "\n";
    }
  }
  write_file_atomic(path, o.str());
}

}  // namespace

TEST_CASE("tomograd metrics --help documents the command", "[cli]") {
  auto r = run_command(tomograd_app() + " metrics --help");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("Example") && Catch::Contains("--y-pred") && Catch::Contains("default: 1000") &&
                        Catch::Contains("--aggregate") && Catch::Contains("--report"));
  CHECK(run_command(tomograd_app() + " metrics ordinal --input x.csv --y-true a --y-pred b").exit_code == 2);
  CHECK(run_command(tomograd_app() + " metrics binary --y-true a --y-pred b").exit_code == 2);
}

TEST_CASE("tomograd metrics regression --json matches scikit-learn", "[cli]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "p.csv", "id,bmd,pred\na,3.1,2.9\nb,4.7,5.1\nc,2.0,2.4\nd,5.0,5.0\ne,6.2,6.8\nf,3.9,4.0\n"
                                   "g,4.4,4.0\nh,5.0,5.6\n");
  auto r = run_command(tomograd_app() + " metrics regression --input " + q(tmp / "p.csv") +
                       " --y-true bmd --y-pred pred --id id --bootstrap 200 --seed 3 --json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  // sklearn.metrics 1.2.1 / scipy.stats 1.10.1 on these eight pairs (see tests/unit/eval/test_regression.cpp).
  CHECK(j["r2"].get<double>() == near(0.8926923489644812));
  CHECK(j["mae"].get<double>() == near(0.3374999999999999));
  CHECK(j["rmse"].get<double>() == near(0.3952847075210473));
  CHECK(j["mse"].get<double>() == near(0.1562499999999999));
  CHECK(j["pearson"].get<double>() == near(0.9691107991529117));
  CHECK(j["spearman"].get<double>() == near(0.9518072289156626));
  CHECK(j["mape"].get<double>() == near(0.08536835276368562));
  for (const char* key : {"r2", "mae", "rmse", "mse", "pearson", "spearman", "mape"}) {
    INFO(key);
    CHECK(j[std::string(key) + "_ci_low"].get<double>() <= j[key].get<double>() + 1e-12);
    CHECK(j[std::string(key) + "_ci_high"].get<double>() >= j[std::string(key) + "_ci_low"].get<double>());
  }
  CHECK(j["bootstrap"]["resamples"] == 200);
  CHECK(j["bootstrap"]["seed"] == 3);
  // Same seed, same output.
  auto again = run_command(tomograd_app() + " metrics regression --input " + q(tmp / "p.csv") +
                           " --y-true bmd --y-pred pred --id id --bootstrap 200 --seed 3 --json");
  CHECK(again.out == r.out);
  // Human-readable table.
  auto t = run_command(tomograd_app() + " metrics regression --input " + q(tmp / "p.csv") + " --y-true bmd --y-pred pred --bootstrap 20");
  CHECK(t.exit_code == 0);
  CHECK_THAT(t.out, Catch::Contains("R² (r2)") && Catch::Contains("0.8927") && Catch::Contains("95% CI") &&
                        Catch::Contains("Bland–Altman"));
}

TEST_CASE("tomograd metrics binary: patient aggregation, threshold from validation data, report", "[cli]") {
  test::TempDir tmp;
  write_slices(tmp / "val.csv", 1);
  write_slices(tmp / "test.csv", 2);
  auto r = run_command(tomograd_app() + " metrics binary --input " + q(tmp / "test.csv") +
                       " --y-true label --y-pred prob --group patient_id --aggregate max --select-threshold youden"
                       " --validation " + q(tmp / "val.csv") + " --bootstrap 100 --json --report " + q(tmp / "rep"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["n"] == 30);
  CHECK_THAT(j["threshold_source"].get<std::string>(), Catch::Contains("youden on 30 units"));
  for (const char* key : {"auc", "pr_auc", "accuracy", "balanced_accuracy", "f1", "sensitivity", "specificity", "ppv",
                          "npv", "log_loss"}) {
    INFO(key);
    CHECK(j.contains(key));
    CHECK(j.contains(std::string(key) + "_ci_low"));
    CHECK(j.contains(std::string(key) + "_ci_high"));
  }
  for (const char* f : {"metrics.json", "predictions.csv", "summary.md", "report.html", "plots/roc_curve.svg",
                        "plots/pr_curve.svg", "plots/confusion_matrix.svg", "plots/calibration_curve.svg"}) {
    INFO(f);
    CHECK(fs::exists(tmp / "rep" / f));
  }
  CHECK(read_json(tmp / "rep" / "metrics.json")["auc"] == j["auc"]);
  CHECK_THAT(read_file(tmp / "rep" / "predictions.csv"), Catch::StartsWith("id,y_true,prob,predicted\nP0,1,"));
  // The report folder is not overwritten without --force.
  auto again = run_command(tomograd_app() + " metrics binary --input " + q(tmp / "test.csv") +
                           " --y-true label --y-pred prob --group patient_id --bootstrap 0 --report " + q(tmp / "rep"));
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("refusing to overwrite"));
  CHECK(run_command(tomograd_app() + " metrics binary --input " + q(tmp / "test.csv") +
                    " --y-true label --y-pred prob --group patient_id --bootstrap 0 --force --report " + q(tmp / "rep"))
            .exit_code == 0);
  // Threshold selection needs validation data and a binary task.
  auto no_val = run_command(tomograd_app() + " metrics binary --input " + q(tmp / "test.csv") +
                            " --y-true label --y-pred prob --select-threshold youden");
  CHECK(no_val.exit_code == 1);
  CHECK_THAT(no_val.err, Catch::Contains("--validation"));
}

TEST_CASE("tomograd metrics multiclass with class-name targets", "[cli]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "m.csv",
                    "study,grade,normal,moderate,severe\n1,normal,0.7,0.2,0.1\n2,moderate,0.2,0.5,0.3\n"
                    "3,severe,0.1,0.3,0.6\n4,severe,0.3,0.4,0.3\n5,moderate,0.1,0.8,0.1\n6,normal,0.5,0.3,0.2\n"
                    "7,moderate,0.3,0.3,0.4\n8,severe,0.2,0.2,0.6\n9,normal,0.4,0.4,0.2\n10,moderate,0.25,0.5,0.25\n");
  auto r = run_command(tomograd_app() + " metrics multiclass --input " + q(tmp / "m.csv") +
                       " --y-true grade --y-pred normal,moderate,severe --bootstrap 50 --json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  // sklearn 1.2.1: accuracy_score 0.8, balanced_accuracy_score 0.8055555555555555,
  // f1_score(average="macro") 0.8055555555555555, roc_auc_score(multi_class="ovr") 0.9345238095238094,
  // log_loss(labels=[0, 1, 2]) 0.7005147624990786 (same data as tests/unit/eval/test_multiclass.cpp).
  CHECK(j["accuracy"].get<double>() == near(0.8));
  CHECK(j["balanced_accuracy"].get<double>() == near(0.8055555555555555));
  CHECK(j["f1"].get<double>() == near(0.8055555555555555));
  CHECK(j["auc"].get<double>() == near(0.9345238095238094));
  CHECK(j["log_loss"].get<double>() == near(0.7005147624990786));
  CHECK(j["per_class"][1]["class"] == "moderate");
  CHECK(j["confusion_matrix"] == nlohmann::json::parse("[[3,0,0],[0,3,1],[0,1,2]]"));
}

TEST_CASE("tomograd metrics: bad input fails with exit code 1 and a clear message", "[cli]") {
  test::TempDir tmp;
  auto metrics = [&](const std::string& task, const std::string& file, const std::string& args) {
    return run_command(tomograd_app() + " metrics " + task + " --input " + q(tmp / file) + " --bootstrap 20 " + args);
  };
  write_file_atomic(tmp / "empty.csv", "");
  auto r = metrics("binary", "empty.csv", "--y-true label --y-pred prob");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("empty.csv") && Catch::Contains("empty CSV file"));

  write_file_atomic(tmp / "p.csv", "label,score\n1,0.5\n0,0.2\n");
  r = metrics("binary", "p.csv", "--y-true label --y-pred prob");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("missing column 'prob'"));

  write_file_atomic(tmp / "text.csv", "label,prob\n1,0.5\n0,high\n");
  r = metrics("binary", "text.csv", "--y-true label --y-pred prob");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("line 3, column 'prob'") && Catch::Contains("'high'"));

  write_file_atomic(tmp / "nan.csv", "label,prob\n1,0.5\n0,nan\n");
  r = metrics("binary", "nan.csv", "--y-true label --y-pred prob");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("line 3, column 'prob'") && Catch::Contains("'nan'"));

  // A row with fewer fields than the header (mismatched lengths within the file).
  write_file_atomic(tmp / "ragged.csv", "label,prob\n1,0.5\n0\n");
  r = metrics("binary", "ragged.csv", "--y-true label --y-pred prob");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("ragged.csv: line 3: 1 fields, expected 2"));

  // A single class: the table still prints, the undefined metrics are named with the reason.
  write_file_atomic(tmp / "one.csv", "label,prob\n0,0.5\n0,0.2\n0,0.7\n");
  r = metrics("binary", "one.csv", "--y-true label --y-pred prob");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("undefined metrics") && Catch::Contains("auc: only one class in y_true") &&
                        Catch::Contains("--allow-undefined"));
  CHECK_THAT(r.out, Catch::Contains("undefined"));
  r = metrics("binary", "one.csv", "--y-true label --y-pred prob --json --allow-undefined");
  CHECK(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["auc"].is_null());
  CHECK_THAT(j["undefined"]["auc"].get<std::string>(), Catch::Contains("only one class"));
  CHECK(j["specificity"].is_number());

  // Constant targets: R² undefined, said so (no "nan" anywhere).
  write_file_atomic(tmp / "const.csv", "y,p\n2.5,2.4\n2.5,2.6\n2.5,2.5\n");
  r = metrics("regression", "const.csv", "--y-true y --y-pred p");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("r2: y_true is constant (all 2.5)"));
  CHECK(r.out.find("nan") == std::string::npos);

  // Mismatched ids between the predictions and the labels file.
  write_file_atomic(tmp / "preds.csv", "pid,prob\nA,0.5\nB,0.2\nC,0.4\n");
  write_file_atomic(tmp / "labels.csv", "pid,label\nA,1\nB,0\nD,1\n");
  r = metrics("binary", "preds.csv", "--y-true label --y-pred prob --id pid --labels " + q(tmp / "labels.csv"));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("do not match") && Catch::Contains("no label (C)") && Catch::Contains("no prediction (D)"));

  // Wrong number of prediction columns for the task.
  r = metrics("regression", "const.csv", "--y-true y --y-pred p,y");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("exactly one --y-pred column, got 2"));

  // A patient whose slices disagree on the label.
  write_file_atomic(tmp / "g.csv", "pid,label,prob\nA,1,0.5\nA,0,0.2\nB,0,0.1\n");
  r = metrics("binary", "g.csv", "--y-true label --y-pred prob --group pid");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("group 'A'") && Catch::Contains("g.csv: line 2"));

  r = metrics("binary", "g.csv", "--y-true label --y-pred prob --group pid --aggregate median");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("unknown aggregation 'median'"));
}

TEST_CASE("report.html renders in headless Chromium", "[cli]") {
  test::TempDir tmp;
  write_slices(tmp / "test.csv", 5);
  write_file_atomic(tmp / "history.csv", "epoch,train_loss,val_loss,val_auc\n1,0.9,1.0,0.6\n2,0.6,0.8,0.7\n"
                                         "3,0.45,0.7,0.75\n4,0.4,0.72,0.78\n");
  auto r = run_command(tomograd_app() + " metrics binary --input " + q(tmp / "test.csv") +
                       " --y-true label --y-pred prob --group patient_id --bootstrap 50 --report " + q(tmp / "rep") +
                       " --history " + q(tmp / "history.csv") + " --title 'Chromium check'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto page = test::render_in_chromium(tmp / "rep" / "report.html", tmp.path());
  // A blank 1200×2000 page compresses to a few kB; charts and tables give far more.
  CHECK(page.png.size() > 40000);
  const std::string& png = page.png;
  REQUIRE(png.size() > 24);
  CHECK(png.compare(1, 3, "PNG") == 0);
  auto be32 = [&](std::size_t at) {
    return (static_cast<uint32_t>(static_cast<unsigned char>(png[at])) << 24) |
           (static_cast<uint32_t>(static_cast<unsigned char>(png[at + 1])) << 16) |
           (static_cast<uint32_t>(static_cast<unsigned char>(png[at + 2])) << 8) |
           static_cast<uint32_t>(static_cast<unsigned char>(png[at + 3]));
  };
  CHECK(be32(16) == 1200);  // IHDR width
  for (const char* title : {"Chromium check", "Metrics", "Training curves: loss", "Training curves: metrics", "ROC curve",
                            "Precision–recall curve", "Confusion matrix", "Calibration curve", "AUC-ROC"}) {
    INFO(title);
    CHECK_THAT(page.dom, Catch::Contains(title));
  }
  CHECK_THAT(page.dom, Catch::Contains("<svg") && Catch::Contains("<polyline"));
}
