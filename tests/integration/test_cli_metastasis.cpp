// Runs the metastasis app end to end on a tiny synthetic head CT cohort (synth -> preprocess ->
// train -> infer one patient and a folder -> evaluate) and checks bad-input handling.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/io/dicom.hpp"

using namespace tomograd;
namespace fs = std::filesystem;
using test::run_command;
using test::shell_quote;

namespace {

std::string tomograd_app() { return shell_quote(TOMOGRAD_APP); }
std::string met_app() { return shell_quote(TOMOGRAD_METASTASIS_APP); }
std::string q(const fs::path& p) { return shell_quote(p.string()); }
std::string config() { return q(fs::path(TOMOGRAD_SOURCE_DIR) / "configs" / "metastasis_resnet50.yaml"); }

/// Tiny settings: resnet18 at 64², one curriculum stage that trains everything, 2 epochs.
std::string tiny(const fs::path& tmp) {
  return " --set data.cache_dir=" + q(tmp / "cache") +
         " --set preprocess.resize.height=64 --set preprocess.resize.width=64 --set model.arch=resnet18"
         " --set model.head.hidden=32 --set train.epochs=2 --set train.loader.workers=0 --set eval.bootstrap=50"
         " --set eval.top_slices=3 --set \"curriculum=[{name: all, from_epoch: 0, trainable: ['*'], lr: {'': 1.0e-3}}]\"";
}

}  // namespace

TEST_CASE("metastasis: synth, preprocess, train, infer, evaluate", "[cli][metastasis]") {
  test::TempDir tmp;
  auto r = run_command(tomograd_app() + " -q synth metastasis --out " + q(tmp / "data") +
                       " --patients 16 --scale 0.125 --seed 4");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  r = run_command(met_app() + " preprocess --config " + config() + " --data " + q(tmp / "data") + tiny(tmp.path()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("16 studies"));

  const fs::path run = tmp / "run";
  r = run_command(met_app() + " train --config " + config() + " --data " + q(tmp / "data") + " --out " + q(run) +
                  tiny(tmp.path()));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("16 studies: 0 built, 16 reused"));  // the cache from preprocess
  for (const char* f : {"config.yaml", "splits.csv", "history.csv", "checkpoints/best.pt", "checkpoints/last.pt",
                        "checkpoints/final.pt", "checkpoints/summary.csv"}) {
    CHECK(fs::exists(run / f));
  }
  const CsvTable history = CsvTable::read(run / "history.csv");
  CHECK(history.num_rows() == 2);
  for (const char* c : {"val_f1", "val_sensitivity", "val_specificity", "val_auc", "val_threshold"}) {
    CHECK(history.has_column(c));
  }
  const auto meta = nlohmann::json::parse(read_file(run / "checkpoints" / "best.json"));
  CHECK(meta["threshold"].is_number());

  // One patient folder: probability, decision and top slices on stdout.
  r = run_command(met_app() + " -q infer " + q(run) + " --input " + q(tmp / "data" / "CTs" / "MET0001"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("patient MET0001: probability") && Catch::Contains("top slices:"));
  // A folder of patients (and a checkpoint path instead of the run): a CSV.
  r = run_command(met_app() + " -q infer " + q(run / "checkpoints" / "last.pt") + " --input " +
                  q(tmp / "data" / "CTs") + " --output " + q(tmp / "pred.csv"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const CsvTable pred = CsvTable::read(tmp / "pred.csv");
  CHECK(pred.header() == std::vector<std::string>{"patient_id", "probability", "prediction", "top_slice"});
  CHECK(pred.num_rows() == 16);
  for (double p : pred.numbers("probability")) CHECK((p >= 0 && p <= 1));

  // A real head CT written by others (512², 108 slices): any size and slice count is scored
  // with the run's preprocessing.
  {
    const Volume ct = test::read_invesalius_ct(test::data_file("invesalius/Cranium.inv3"), tmp.path());
    io::write_dicom_series(ct, tmp / "real" / "CRANIUM");
    r = run_command(met_app() + " -q infer " + q(run) + " --input " + q(tmp / "real" / "CRANIUM"));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("patient CRANIUM: probability"));
  }

  r = run_command(met_app() + " -q evaluate " + q(run) + " --split all");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const fs::path ev = run / "eval" / "all";
  for (const char* f : {"metrics.json", "predictions.csv", "report.html", "slice_vs_patient.md", "slice_metrics.json"}) {
    CHECK(fs::exists(ev / f));
  }
  CHECK_THAT(r.out, Catch::Contains("patient level (n=16)") && Catch::Contains("slice level"));
  const std::string html = read_file(ev / "report.html");
  CHECK_THAT(html, Catch::Contains("Grad-CAM") && Catch::Contains("data:image/png;base64"));
  int pngs = 0;
  for (const auto& e : fs::directory_iterator(ev / "top_slices")) pngs += e.path().extension() == ".png";
  CHECK(pngs == 3);
  const auto metrics = nlohmann::json::parse(read_file(ev / "metrics.json"));
  CHECK(metrics["auc"].is_number());
  CHECK(metrics["threshold"].is_number());
}

TEST_CASE("metastasis train: bad inputs listed, or skipped with --skip-bad", "[cli][metastasis]") {
  test::TempDir tmp;
  auto r = run_command(tomograd_app() + " -q synth metastasis --out " + q(tmp / "data") +
                       " --patients 6 --scale 0.0625 --seed 5");
  REQUIRE(r.exit_code == 0);
  std::string labels = read_file(tmp / "data" / "labels.csv");
  write_file_atomic(tmp / "data" / "labels.csv", labels + "GHOST,1\n");
  fs::create_directories(tmp / "data" / "CTs" / "JUNK");
  write_file_atomic(tmp / "data" / "CTs" / "JUNK" / "x.dcm", "not dicom");
  const std::string base = met_app() + " train --config " + config() + " --data " + q(tmp / "data") + tiny(tmp.path()) +
                           " --set train.epochs=1 --out " + q(tmp / "run");
  r = run_command(base);
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("2 problems") && Catch::Contains("no folder CTs/GHOST") &&
                        Catch::Contains("folder CTs/JUNK has no row") && Catch::Contains("--skip-bad"));
  CHECK_FALSE(fs::exists(tmp / "run"));
  r = run_command(base + " --skip-bad");
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.err, Catch::Contains("skipping 2 bad input(s)"));
}
