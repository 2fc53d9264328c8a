// `metastasis infer --dicom-out` and `lumbar infer --dicom-out` end to end on synthetic cohorts
// (synth -> train, tiny -> infer): every written file is checked with dciodvfy (dicom3tools) and
// read back with pydicom against the source images (tests/support/dicom_check.hpp), never with
// our own reader.
#include <catch2/catch.hpp>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "support/cli.hpp"
#include "support/dicom_check.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"

using namespace tomograd;
namespace fs = std::filesystem;
using Catch::Contains;
using test::q;
using test::run_command;

namespace {

/// Identifying values written into the source images: none of them may reach a result.
const std::vector<std::string> kIdentifying = {"Doe^Jane", "19600101", "ACC123", "General Hospital"};

/// Adds a patient name, birth date, accession number and institution to every DICOM file under
/// @p dir, and sets the StudyInstanceUID to @p study_uid when given.
void add_identifying_attributes(const fs::path& dir, const std::string& study_uid = "") {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file() || e.path().extension() != ".dcm") continue;
    DcmFileFormat ff;
    REQUIRE(ff.loadFile(e.path().c_str()).good());
    DcmDataset& ds = *ff.getDataset();
    ds.putAndInsertString(DCM_PatientName, kIdentifying[0].c_str());
    ds.putAndInsertString(DCM_PatientBirthDate, kIdentifying[1].c_str());
    ds.putAndInsertString(DCM_AccessionNumber, kIdentifying[2].c_str());
    ds.putAndInsertString(DCM_InstitutionName, kIdentifying[3].c_str());
    if (!study_uid.empty()) ds.putAndInsertString(DCM_StudyInstanceUID, study_uid.c_str());
    // Pixel data is read lazily from the file: into memory before the file is rewritten.
    REQUIRE(ff.loadAllDataIntoMemory().good());
    REQUIRE(ff.saveFile(e.path().c_str()).good());  // in its own transfer syntax
  }
}

/// SC0001.dcm, SC0002.dcm, ... of a result folder, in order.
std::vector<fs::path> sc_files(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

/// dciodvfy errors of @p file, except an error about the StudyInstanceUID (0020,000D) that the
/// source image @p source shows too: a result carries the source's StudyInstanceUID unchanged (the
/// linkage), so an invalid source UID, such as the RSNA 2024 numeric study ids, is reported for
/// both. Nothing else may be.
std::vector<std::string> own_errors(const fs::path& file, const fs::path& source) {
  std::vector<std::string> inherited;
  for (const auto& e : test::dciodvfy_errors(test::dciodvfy(source))) {
    if (e.find("(0x0020,0x000d)") != std::string::npos) inherited.push_back(e);
  }
  std::vector<std::string> own;
  for (const auto& e : test::dciodvfy_errors(test::dciodvfy(file))) {
    if (std::find(inherited.begin(), inherited.end(), e) == inherited.end()) own.push_back(e);
  }
  return own;
}

/// The checks every result series passes: @p n images, dciodvfy-valid (beyond what the source
/// shows), in the source study under a new series, references to images of @p source_dir only,
/// PatientID = @p patient_id and no identifying attribute. Returns pydicom's reading.
nlohmann::json check_series(const fs::path& source_dir, const fs::path& sc_dir, std::size_t n,
                            const std::string& patient_id) {
  INFO("result series " << sc_dir);
  const auto files = sc_files(sc_dir);
  REQUIRE(files.size() == n);
  fs::path a_source;
  for (const auto& e : fs::recursive_directory_iterator(source_dir)) {
    if (e.is_regular_file()) a_source = e.path();
  }
  for (const auto& f : files) {
    const std::string report = test::dciodvfy(f);
    INFO(f << "\n" << report);
    CHECK_THAT(report, Contains("SCImage"));
    CHECK(own_errors(f, a_source).empty());
    const std::string bytes = read_file(f);
    for (const auto& s : kIdentifying) CHECK(bytes.find(s) == std::string::npos);
  }
  const auto j = test::read_sc_with_pydicom(source_dir, files);
  std::set<std::string> studies, source_series, source_images;
  for (const auto& [name, s] : j["source"].items()) {
    studies.insert(s["study"].get<std::string>());
    source_series.insert(s["series"].get<std::string>());
    source_images.insert(s["sop_class"].get<std::string>() + " " + s["sop_instance"].get<std::string>());
  }
  REQUIRE(studies.size() == 1);
  for (const auto& sc : j["sc"]) {
    CHECK(sc["sop_class"] == "1.2.840.10008.5.1.4.1.1.7");
    CHECK(sc["study"] == *studies.begin());
    CHECK(sc["series"] == j["sc"][0]["series"]);
    CHECK(source_series.count(sc["series"].get<std::string>()) == 0);
    CHECK(sc["patient_id"] == patient_id);
    CHECK(sc["patient_name"] == "");
    CHECK(sc["identifying"].empty());
    CHECK(sc["burned_in"] == "YES");
    REQUIRE(!sc["references"].empty());
    for (const auto& r : sc["references"]) {
      CHECK(source_images.count(r[0].get<std::string>() + " " + r[1].get<std::string>()) == 1);
    }
  }
  return j;
}

/// The source file (relative path in pydicom's reading) of each SOP Instance UID.
std::map<std::string, std::string> file_of_instance(const nlohmann::json& j) {
  std::map<std::string, std::string> out;
  for (const auto& [name, s] : j["source"].items()) out[s["sop_instance"].get<std::string>()] = name;
  return out;
}

/// Source slices (indices in position order) of preprocessed slice z of a series of n slices
/// @p spacing_mm apart.
using ToSource = std::function<std::vector<int>(int z, int n, double spacing_mm)>;

/// Checks that the images of one patient show its highest-scoring slices: each image references
/// exactly the source slices @p to_source gives for one scored slice, and the slices shown score
/// at least as high as every slice not shown (--slices CSV).
void check_top_slices(const nlohmann::json& j, const CsvTable& slices, const std::string& patient,
                      const ToSource& to_source) {
  std::vector<std::pair<double, std::string>> by_z;  // source file names sorted along z
  for (const auto& [name, s] : j["source"].items()) by_z.emplace_back(s["position"][2].get<double>(), name);
  std::sort(by_z.begin(), by_z.end());
  std::map<std::string, int> index_of;
  for (std::size_t i = 0; i < by_z.size(); ++i) index_of[by_z[i].second] = static_cast<int>(i);
  std::map<std::vector<int>, double> prob_of_source;  // scored slices, by the source slices they come from
  std::size_t scored = 0;
  const double spacing = (by_z.back().first - by_z.front().first) / static_cast<double>(by_z.size() - 1);
  for (std::size_t r = 0; r < slices.num_rows(); ++r) {
    if (slices.at(r, slices.column_index("patient_id")) != patient) continue;
    ++scored;
    const int z = std::stoi(slices.at(r, slices.column_index("slice")));
    const double p = std::stod(slices.at(r, slices.column_index("probability")));
    auto& best = prob_of_source[to_source(z, static_cast<int>(by_z.size()), spacing)];
    best = std::max(best, p);
  }
  const auto files = file_of_instance(j);
  std::set<std::vector<int>> shown;
  for (const auto& sc : j["sc"]) {
    std::vector<int> refs;
    for (const auto& r : sc["references"]) refs.push_back(index_of.at(files.at(r[1].get<std::string>())));
    std::sort(refs.begin(), refs.end());
    INFO("source slices " << refs.front() << ".." << refs.back() << " (" << refs.size() << ")");
    REQUIRE(prob_of_source.count(refs) == 1);
    shown.insert(refs);
  }
  // Each image a different slice (checkable where no two slices share their source slices).
  if (prob_of_source.size() == scored) CHECK(shown.size() == j["sc"].size());
  double min_shown = 1.0, max_other = 0.0;
  for (const auto& [refs, p] : prob_of_source) {
    if (shown.count(refs)) min_shown = std::min(min_shown, p);
    else max_other = std::max(max_other, p);
  }
  CHECK(min_shown >= max_other - 1e-6);
}

/// Case C below: n slices @p spacing_mm apart resampled to m = round(n * spacing / 1.75) slices by
/// linear interpolation with align_corners=false (PyTorch's convention, which keeps the extent):
/// slice z sits at source coordinate (z + 0.5) * n / m - 0.5, on one source slice (within 0.05) or
/// between two (both referenced); outside the first/last slice centre, the edge slice.
std::vector<int> resampled_175(int z, int n, double spacing_mm) {
  const double m = std::round(n * spacing_mm / 1.75);
  const double t = (z + 0.5) * n / m - 0.5;
  if (t <= 0) return {0};
  if (t >= n - 1) return {n - 1};
  const int lo = static_cast<int>(std::floor(t));
  if (t - lo < 0.05) return {lo};
  if (lo + 1 - t < 0.05) return {lo + 1};
  return {lo, lo + 1};
}

}  // namespace

TEST_CASE("metastasis infer --dicom-out: top slices as Secondary Capture in the source study", "[cli][metastasis][dicom]") {
  test::TempDir tmp;
  const fs::path data = tmp / "data";
  test::synth("metastasis", data, "--patients 8 --scale 0.125 --seed 4");
  add_identifying_attributes(data / "CTs");
  const std::string app = test::metastasis_app();
  const std::string tiny =
      " --set data.cache_dir=" + q(tmp / "cache") +
      " --set preprocess.resize.height=64 --set preprocess.resize.width=64 --set train.epochs=1"
      " --set train.loader.workers=0 --set eval.top_slices=3"
      " --set \"curriculum=[{name: all, from_epoch: 0, trainable: ['*'], lr: {'': 1.0e-3}}]\"";
  // A: resnet18 (Grad-CAM), canonical orientation (the synthetic series are LPS already: slice z
  // of the preprocessed volume is source slice z). B: SimpleCNN (no Grad-CAM) with the slices
  // reversed (reorient LPI), so that preprocessed slice z is source slice n-1-z. C: z resampled
  // to 1.75 mm.
  const std::string simple_cnn = " --set model.arch=simple_cnn"
                                 " --set 'model.simple_cnn={widths: [8, 16], hidden: 16, input_size: [64, 64]}'";
  struct Case {
    const char* name;
    std::string settings;
    std::string top;
    std::size_t n;
    ToSource to_source;
  };
  const std::vector<Case> cases = {
      {"resnet18", " --set model.arch=resnet18 --set model.head.hidden=32", "", 3,
       [](int z, int, double) { return std::vector<int>{z}; }},
      {"reversed", simple_cnn + " --set preprocess.reorient=LPI", " --dicom-top 2", 2,
       [](int z, int n, double) { return std::vector<int>{n - 1 - z}; }},
      {"resampled", simple_cnn + " --set 'preprocess.spacing_mm=[1.75, 0, 0]'", " --dicom-top 4", 4, resampled_175}};
  for (const auto& c : cases) {
    SECTION(c.name) {
      const fs::path run = tmp / c.name;
      auto r = run_command(app + " -q train --config " + q(test::source_path("configs/metastasis_resnet50.yaml")) +
                      " --data " + q(data) + " --out " + q(run) + tiny + c.settings);
      INFO(r.out << r.err);
      REQUIRE(r.exit_code == 0);
      const fs::path out = tmp / (std::string("dicom_") + c.name);
      const std::string infer = app + " -q infer " + q(run) + " --input " + q(data / "CTs") + " --dicom-out " + q(out) + c.top;
      r = run_command(infer + " --slices " + q(tmp / (std::string(c.name) + "_slices.csv")));
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
      CHECK_THAT(r.out, Contains("DICOM results"));
      const CsvTable slices = CsvTable::read(tmp / (std::string(c.name) + "_slices.csv"));
      std::size_t patients = 0;
      for (const auto& e : fs::directory_iterator(data / "CTs")) {
        const std::string id = e.path().filename().string();
        const auto j = check_series(e.path(), out / id, c.n, id);
        check_top_slices(j, slices, id, c.to_source);
        ++patients;
      }
      CHECK(patients == 8);
      // The folder is not overwritten without --force (and one clear line says so).
      const std::string before = read_file(out / "MET0001" / "SC0001.dcm");
      r = run_command(infer);
      CHECK(r.exit_code == 1);
      CHECK_THAT(r.err, Contains("exists and is not empty") && Contains("--force"));
      CHECK(read_file(out / "MET0001" / "SC0001.dcm") == before);
      r = run_command(infer + " --force");
      CHECK(r.exit_code == 0);
      CHECK(sc_files(out / "MET0001").size() == c.n);
    }
  }
}

TEST_CASE("lumbar infer --dicom-out: graded crops as Secondary Capture in the source study", "[cli][lumbar][dicom]") {
  test::TempDir tmp;
  const fs::path data = tmp / "rsna";
  test::synth("lumbar", data, "--studies 8 --test-studies 2 --scale 0.125 --seed 5");
  const CsvTable series = CsvTable::read(data / "test_series_descriptions.csv");
  std::map<std::string, std::string> description;  // series id -> description
  std::vector<std::string> studies;
  for (std::size_t i = 0; i < series.num_rows(); ++i) {
    description[series.at(i, 1)] = series.at(i, 2);
    if (std::find(studies.begin(), studies.end(), series.at(i, 0)) == studies.end()) studies.push_back(series.at(i, 0));
  }
  REQUIRE(studies.size() == 2);
  // The RSNA 2024 studies' UIDs are bare numbers (dciodvfy: "Illegal root"); the first test study
  // gets a valid UID, so its results must be free of any dciodvfy error.
  add_identifying_attributes(data / "test_images" / studies[0], "2.25.314159265358979323846");
  add_identifying_attributes(data / "test_images" / studies[1]);
  const std::string app = test::lumbar_app();
  const fs::path run = tmp / "run";
  auto r = run_command(app + " -q train --config " + q(test::source_path("configs/lumbar_sagittal.yaml")) + " --data " +
                  q(data) + " --out " + q(run) + " --fold 0" +
                  " --set data.folds=2 --set train.epochs=1 --set localizer.epochs=1 --set model.arch=simple_cnn"
                  " --set 'model.simple_cnn={widths: [8, 16], hidden: 16, input_size: [32, 32]}'"
                  " --set 'localizer.model.simple_cnn={widths: [8, 16], hidden: 16}' --set localizer.size=32");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const fs::path out = tmp / "dicom";
  r = run_command(app + " -q infer " + q(run) + " --data " + q(data) + " --out " + q(tmp / "sub.csv") +
                  " --dicom-out " + q(out));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (const auto& study : studies) {
    // Sagittal runs grade 5 levels x 3 crops: T2 at the spinal canal, T1 at either foramen.
    const auto j = check_series(data / "test_images" / study, out / study, 15, study);
    const auto files = file_of_instance(j);
    std::map<std::string, int> per_description;
    for (const auto& sc : j["sc"]) {
      REQUIRE(sc["references"].size() == 1);
      const std::string file = files.at(sc["references"][0][1].get<std::string>());  // <series>/<instance>.dcm
      ++per_description[description.at(fs::path(file).parent_path().string())];
    }
    CHECK(per_description["Sagittal T2/STIR"] == 5);
    CHECK(per_description["Sagittal T1"] == 10);
    CHECK(per_description.count("Axial T2") == 0);
  }
  for (const auto& f : sc_files(out / studies[0])) {
    const std::string report = test::dciodvfy(f);
    INFO(f << "\n" << report);
    CHECK(test::dciodvfy_errors(report).empty());
  }
}
