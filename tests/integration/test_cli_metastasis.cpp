// Runs the metastasis app end to end on a tiny synthetic head CT cohort (synth -> preprocess ->
// train -> infer one patient and a folder -> evaluate) and checks bad-input handling.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <map>

#include "support/cli.hpp"
#include "support/ranks.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/tasks/metastasis/synth.hpp"

using namespace tomograd;
namespace fs = std::filesystem;
using test::q;
using test::run_command;
using test::tomograd_app;

namespace {

std::string met_app() { return test::metastasis_app(); }
std::string metastasis_config() { return q(test::source_path("configs/metastasis_resnet50.yaml")); }

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
  r = run_command(met_app() + " preprocess --config " + metastasis_config() + " --data " + q(tmp / "data") + tiny(tmp.path()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("16 studies"));

  const fs::path run = tmp / "run";
  r = run_command(met_app() + " train --config " + metastasis_config() + " --data " + q(tmp / "data") + " --out " + q(run) +
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
  const std::string base = met_app() + " train --config " + metastasis_config() + " --data " + q(tmp / "data") + tiny(tmp.path()) +
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

namespace {

/// A 20-slice head CT whose only lesion lies within one slice: thick slices (@p slice_mm) and a
/// lesion of @p diameter_mm (at most the slice thickness) centred in slice @p lesion_slice, in the
/// parenchyma. Returns the lesion's slice.
int write_one_slice_lesion_patient(const fs::path& dir, int lesion_slice, double slice_mm = 8.0,
                                   double diameter_mm = 7.5) {
  tasks::MetastasisPhantomParams p;
  p.size = 128;
  p.slices = 20;
  p.slice_spacing_mm = slice_mm;
  p.noise_hu = 4.0;
  p.seed = 77;
  // Find a parenchyma voxel on the slice with parenchyma all around it (the lesion and 3 mm more
  // on each side).
  const tasks::MetastasisPhantom plain = tasks::render_metastasis_phantom(p);
  const double px = p.fov_mm / static_cast<double>(p.size);
  const int64_t window = 2 * static_cast<int64_t>(std::ceil((diameter_mm / 2 + 3.0) / px)) + 1;
  const torch::Tensor par = plain.parenchyma_mask[lesion_slice].to(torch::kFloat32).unsqueeze(0).unsqueeze(0);
  const torch::Tensor full = torch::avg_pool2d(par, window, 1, window / 2)[0][0].ge(0.999) & par[0][0].ne(0);
  const torch::Tensor where = full.nonzero();
  REQUIRE(where.size(0) > 0);
  const auto pick = where[where.size(0) / 2];
  tasks::MetastasisLesion l;
  l.center_lps_mm = plain.volume.index_to_lps(lesion_slice, pick[0].item<double>(), pick[1].item<double>());
  l.diameter_mm = diameter_mm;
  l.kind = tasks::LesionKind::kHyperdense;
  l.rim_hu = 45.0;
  p.lesions = {l};
  const tasks::MetastasisPhantom ph = tasks::render_metastasis_phantom(p);
  // The lesion is confined to one slice.
  const torch::Tensor per_slice = ph.lesion_mask.sum({1, 2});
  for (int z = 0; z < 20; ++z) CHECK((per_slice[z].item<int64_t>() > 0) == (z == lesion_slice));
  io::DicomWriteOptions w;
  w.modality = "CT";
  w.patient_id = "ONESLICE";
  w.rescale_intercept = -1024.0;
  w.rescale_slope = 1.0;
  io::write_dicom_series(ph.volume, dir, w);
  return lesion_slice;
}

/// Settings of the learning test: the shipped recipe with a model small enough to train from
/// scratch in seconds. A two-block SimpleCNN whose maps are max-pooled over the plane
/// (simple_cnn.input_size [0, 0]) is a local detector: a lesion counts wherever it lies, and the
/// model cannot tell patients apart by their head's pose or size. A SimpleCNN that flattens its
/// maps (or a deeper one) memorizes its training patients instead (docs/metastasis.md,
/// "Learning test").
std::string learning_settings(const fs::path& tmp) {
  return " --set data.cache_dir=" + q(tmp / "cache") +
         " --set preprocess.resize.height=64 --set preprocess.resize.width=64 --set model.arch=simple_cnn"
         " --set 'model.simple_cnn={widths: [16, 32], input_size: [0, 0], hidden: 0}'"
         " --set model.head.hidden=0 --set model.head.dropout=0.0 --set augment.enabled=false"
         " --set data.patients_per_batch=1 --set train.epochs=15 --set train.loader.workers=0"
         " --set eval.bootstrap=100 --set eval.top_slices=2 --set data.val=0.25 --set data.test=0.25"
         " --set optim.lr=1e-3 --set train.monitor=val_loss --set train.monitor_mode=min"
         " --set \"curriculum=[{name: all, from_epoch: 0, trainable: ['*'], lr: {'': 1.0e-3}}]\"";
}

/// Mean and maximum of the slice probabilities of a `metastasis infer --slices` file, and the
/// slice of the maximum.
struct SlicePooling {
  double mean = 0, max = 0;
  int arg = -1;
  std::size_t n = 0;
};

SlicePooling pool_slices(const fs::path& slices_csv) {
  const CsvTable sl = CsvTable::read(slices_csv);
  const auto z = sl.numbers("slice"), prob = sl.numbers("probability");
  SlicePooling p;
  p.n = prob.size();
  for (std::size_t i = 0; i < prob.size(); ++i) {
    p.mean += prob[i] / static_cast<double>(prob.size());
    if (prob[i] > p.max) {
      p.max = prob[i];
      p.arg = static_cast<int>(z[i]);
    }
  }
  return p;
}

}  // namespace

// The pipeline must learn, and MAX pooling must decide. Seeded; about 50 s on 2 cores.
TEST_CASE("metastasis learns: test AUC >= 0.9, and one lesion on one slice of twenty is found by MAX pooling",
          "[cli][metastasis][learning]") {
  test::TempDir tmp;
  // 60 patients (28 train, 16 validation, 16 test), 64², lesions of 15-25 mm enhancing by 40-45 HU
  // (the default cohort's 3-15 mm lesions are mostly a pixel or two at this size).
  // Seed 12 in CI; TOMOGRAD_LEARNING_SEED=N reruns it on another cohort and initialization.
  const char* env_seed = std::getenv("TOMOGRAD_LEARNING_SEED");
  const std::string seed = env_seed && *env_seed ? env_seed : "12";
  auto r = run_command(tomograd_app() + " -q synth metastasis --out " + q(tmp / "data") + " --patients 60 --scale 0.125" +
                       " --seed " + seed + " --lesion-mm 15 25 --enhancement-hu 40 45");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const fs::path run = tmp / "run";
  r = run_command(met_app() + " -q train --config " + metastasis_config() + " --data " + q(tmp / "data") + " --out " + q(run) +
                  learning_settings(tmp.path()) + " --set train.seed=" + seed);
  INFO("seed " << seed << "\n" << r.out << r.err);
  REQUIRE(r.exit_code == 0);
  // Held-out test patients, stratified: none of them trained or chose the threshold.
  const CsvTable splits = CsvTable::read(run / "splits.csv");
  std::map<std::string, int> n;
  for (const auto& s : splits.strings("split")) ++n[s];
  CHECK(n["test"] == 16);
  CHECK(n["val"] == 16);

  r = run_command(met_app() + " -q evaluate " + q(run));  // default: the test patients
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto m = nlohmann::json::parse(read_file(run / "eval" / "test" / "metrics.json"));
  CHECK(m["split"] == "test");
  CHECK(m["n_patients"].get<int>() == n["test"]);
  CHECK_THAT(m["threshold_source"].get<std::string>(), Catch::Contains("validation patients") &&
                                                          Catch::Contains("took no part"));
  CHECK_THAT(m["interval_method"].get<std::string>(), Catch::Contains("percentile bootstrap"));
  const double auc = m["auc"].get<double>();
  INFO("patient-level test AUC " << auc);
  CHECK(auc >= 0.9);

  // One lesion of 15.5 mm, within one 16 mm slice of twenty.
  const int lesion = write_one_slice_lesion_patient(tmp / "one" / "ONESLICE", 9, 16.0, 15.5);
  r = run_command(met_app() + " -q infer " + q(run) + " --input " + q(tmp / "one" / "ONESLICE") + " --slices " +
                  q(tmp / "slices.csv"));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("metastasis suspected"));
  const double threshold = nlohmann::json::parse(read_file(run / "checkpoints" / "best.json"))["threshold"].get<double>();
  const SlicePooling p = pool_slices(tmp / "slices.csv");
  INFO("threshold " << threshold << ", max " << p.max << " at slice " << p.arg << ", mean " << p.mean << " over "
                    << p.n << " slices");
  CHECK(p.arg == lesion);         // the slice that decided is the lesion's
  CHECK(p.max >= threshold);      // MAX pooling: positive
  CHECK(p.mean < threshold);      // the mean of the slice probabilities would have missed it
}

// Issue 13: infer and evaluate under a job of two processes shard the patients (each rank loads
// and scores its contiguous share), gather the scores in the one-process order, and rank 0 alone
// writes and prints: the same files and numbers as one process.
TEST_CASE("metastasis infer and evaluate with WORLD_SIZE=2: one process's results, written once",
          "[cli][metastasis][distributed]") {
  test::TempDir tmp;
  auto r = run_command(tomograd_app() + " -q synth metastasis --out " + q(tmp / "data") +
                       " --patients 10 --scale 0.125 --seed 4");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // Same run name: the report names it.
  const fs::path one = tmp / "one" / "run", two = tmp / "two" / "run";
  r = run_command(met_app() + " -q train --config " + metastasis_config() + " --data " + q(tmp / "data") + " --out " +
                  q(one) + tiny(tmp.path()) + " --set train.epochs=1 --set train.device=cpu");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  fs::create_directories(two);
  fs::copy(one, two, fs::copy_options::recursive);
  const std::string infer = " -q infer --device cpu --input " + q(tmp / "data" / "CTs") + " ";
  r = run_command(met_app() + infer + q(one) + " --output " + q(tmp / "p1.csv") + " --slices " + q(tmp / "s1.csv"));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // Not quiet: each rank logs the studies it loaded, its share of the 10.
  const auto r0 = test::run_two_ranks(met_app() + infer.substr(3) + q(two) + " --output " + q(tmp / "p2.csv") +
                                          " --slices " + q(tmp / "s2.csv"),
                                      tmp.path());
  CHECK_THAT(r0.err, Catch::Contains("cache: 5 studies"));
  CHECK_THAT(read_file(tmp / "rank1.log"), Catch::Contains("cache: 5 studies"));
  // Rank 0 prints one process's lines; rank 1 prints nothing.
  CHECK(r0.out.find("wrote " + (tmp / "p2.csv").string()) != std::string::npos);
  CHECK(read_file(tmp / "rank1.log").find("wrote") == std::string::npos);
  test::check_same_csv(tmp / "p1.csv", tmp / "p2.csv");
  test::check_same_csv(tmp / "s1.csv", tmp / "s2.csv");
  // --dicom-out: each rank writes the series of the patients it scored; together one process's.
  r = run_command(met_app() + infer + q(one) + " --dicom-out " + q(tmp / "d1") + " --dicom-top 1");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  test::run_two_ranks(met_app() + infer + q(two) + " --dicom-out " + q(tmp / "d2") + " --dicom-top 1", tmp.path());
  REQUIRE(test::files_under(tmp / "d1").size() == 10);
  CHECK(test::files_under(tmp / "d2") == test::files_under(tmp / "d1"));

  r = run_command(met_app() + " -q evaluate --device cpu " + q(one) + " --split all");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  test::run_two_ranks(met_app() + " -q evaluate --device cpu " + q(two) + " --split all", tmp.path());
  const fs::path e1 = one / "eval" / "all", e2 = two / "eval" / "all";
  test::check_same_csv(e1 / "predictions.csv", e2 / "predictions.csv");
  test::check_same_json(e1 / "metrics.json", e2 / "metrics.json", tmp.path());
  test::check_same_json(e1 / "slice_metrics.json", e2 / "slice_metrics.json", tmp.path());
  // The Grad-CAM of the top slices, some of them scored by rank 1: the same slices, same images.
  std::vector<std::string> tops1, tops2;
  for (const auto& e : fs::directory_iterator(e1 / "top_slices")) tops1.push_back(e.path().filename().string());
  for (const auto& e : fs::directory_iterator(e2 / "top_slices")) tops2.push_back(e.path().filename().string());
  std::sort(tops1.begin(), tops1.end());
  std::sort(tops2.begin(), tops2.end());
  REQUIRE(tops1.size() == 3);
  CHECK(tops2 == tops1);

  // --skip-bad: a bad folder in rank 1's share (the last of 11) is skipped there, and rank 0's
  // log lists it too, so that the log of the rank that writes names every skipped input.
  fs::create_directories(tmp / "data" / "CTs" / "Z_empty");
  const auto skipped = test::run_two_ranks(met_app() + infer + q(two) + " --skip-bad --output " + q(tmp / "p3.csv"),
                                           tmp.path());
  CHECK_THAT(skipped.err, Catch::Contains("rank 1: ") && Catch::Contains("Z_empty"));
  CHECK_THAT(read_file(tmp / "rank1.log"), Catch::Contains("Z_empty"));
  test::check_same_csv(tmp / "p1.csv", tmp / "p3.csv");
}
