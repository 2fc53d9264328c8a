// Secondary Capture results: validated with dciodvfy (Debian's dicom3tools) and read back with
// pydicom (tests/unit/io/read_dicom_sc.py), never with our own reader.
#include <catch2/catch.hpp>

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "support/dicom_check.hpp"
#include "support/fixtures.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/dicom_sc.hpp"

using namespace tomograd;
using namespace tomograd::io;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

// A 3-slice CT series whose headers carry identifying attributes a result must not copy.
fs::path source_series(const fs::path& dir) {
  torch::manual_seed(3);
  VolumeInfo info;
  info.series_description = "source";
  Volume v(torch::randint(-1000, 1000, {3, 16, 12}).to(torch::kFloat32), {2.0, 0.8, 0.8}, {0, 0, 0},
           identity_direction(), info);
  DicomWriteOptions o;
  o.patient_id = "PAT-7";
  for (const auto& f : write_dicom_series(v, dir, o)) {
    DcmFileFormat ff;
    REQUIRE(ff.loadFile(f.c_str()).good());
    DcmDataset& ds = *ff.getDataset();
    ds.putAndInsertString(DCM_PatientName, "Doe^Jane");
    ds.putAndInsertString(DCM_PatientBirthDate, "19600101");
    ds.putAndInsertString(DCM_AccessionNumber, "ACC123");
    ds.putAndInsertString(DCM_InstitutionName, "General Hospital");
    REQUIRE(ff.saveFile(f.c_str(), EXS_LittleEndianExplicit).good());
  }
  return dir;
}

}  // namespace

TEST_CASE("Secondary Capture series in the source study: dciodvfy-valid, references, no identifying data",
          "[io]") {
  test::TempDir tmp;
  const auto series = scan_dicom(source_series(tmp / "src"), {1, false});
  REQUIRE(series.size() == 1);
  const auto refs = slice_references(series[0]);
  REQUIRE(refs.size() == 3);

  // Slice 0: a cold map keeps the grey image; slice 2: a hot spot in the centre.
  torch::Tensor grey = torch::linspace(0, 1, 16 * 12).view({16, 12});
  ScImage cold = overlay_image(grey, torch::zeros({4, 4}));
  torch::Tensor heat = torch::zeros({4, 4});
  heat.index_put_({torch::indexing::Slice(1, 3), torch::indexing::Slice(1, 3)}, 1.0);
  ScImage hot = overlay_image(grey, heat);
  CHECK(cold.rows == 256);  // enlarged 16x so burned text stays readable
  CHECK(cold.cols == 192);
  cold.sources = {refs[0]};
  hot.sources = {refs[2]};
  hot.burned_text = {"PAT-7 slice 3", "p = 0.93"};
  ScSeriesOptions o;
  o.patient_id = series[0].info.patient_id;
  o.study_uid = series[0].info.study_uid;
  o.series_description = "tomograd test Grad-CAM";
  o.derivation = "Grad-CAM overlay";
  const auto files = write_secondary_capture(tmp / "sc", {cold, hot}, o);
  REQUIRE(files.size() == 2);

  for (const auto& f : files) {
    const std::string report = test::dciodvfy(f);
    INFO(f << "\n" << report);
    CHECK(test::dciodvfy_errors(report).empty());
    CHECK_THAT(report, Contains("SCImage"));  // dciodvfy recognised the IOD
  }

  const auto j = test::read_sc_with_pydicom(tmp / "src", files);
  const auto& src = j["source"];
  REQUIRE(src.size() == 3);
  const std::string study = src["IM0001.dcm"]["study"];
  for (int k = 0; k < 2; ++k) {
    const auto& sc = j["sc"][k];
    INFO("SC image " << k + 1);
    CHECK(sc["sop_class"] == "1.2.840.10008.5.1.4.1.1.7");
    CHECK(sc["study"] == study);
    CHECK(sc["series"] != src["IM0001.dcm"]["series"]);
    CHECK(sc["series"] == j["sc"][0]["series"]);
    CHECK(sc["patient_id"] == "PAT-7");
    CHECK(sc["patient_name"] == "");
    CHECK(sc["identifying"].empty());
    CHECK(sc["burned_in"] == "YES");
    CHECK(sc["photometric"] == "RGB");
    CHECK(sc["shape"] == std::vector<int>{256, 192, 3});
  }
  // Each image references the source image of its slice (volume slice k is IM000<k+1>).
  CHECK(j["sc"][0]["references"][0] == nlohmann::json::array({src["IM0001.dcm"]["sop_class"], src["IM0001.dcm"]["sop_instance"]}));
  CHECK(j["sc"][1]["references"][0][1] == src["IM0003.dcm"]["sop_instance"]);
  // Cold: grey everywhere (R = G = B); the last pixel is the brightest grey.
  CHECK(j["sc"][0]["pixel"]["254,190"] == std::vector<int>{255, 255, 255});
  // Hot centre: the jet colour dominates (red/blue differ from green), burned text box at top-left
  // is black or white text.
  const auto centre = j["sc"][1]["pixel"]["128,96"];
  CHECK(centre[0] != centre[1]);
  const auto corner = j["sc"][1]["pixel"]["2,2"];
  CHECK(corner[0] == corner[1]);
  CHECK(corner[1] == corner[2]);
  CHECK((corner[0] == 0 || corner[0] == 255));
  // Bytes of the source's identifying values appear nowhere in the results.
  for (const auto& f : files) {
    const std::string bytes = read_file(f);
    for (const char* s : {"Doe^Jane", "19600101", "ACC123", "General Hospital"}) CHECK(bytes.find(s) == std::string::npos);
  }

  // Refusals: existing files, missing linkage, wrong pixel count.
  CHECK_THROWS_WITH(write_secondary_capture(tmp / "sc", {cold}, o), Contains("SC0001.dcm: exists"));
  ScSeriesOptions no_study = o;
  no_study.study_uid.clear();
  CHECK_THROWS_WITH(write_secondary_capture(tmp / "sc2", {cold}, no_study), Contains("study UID of the source are required"));
  ScImage bad = cold;
  bad.rgb.pop_back();
  CHECK_THROWS_WITH(write_secondary_capture(tmp / "sc3", {bad}, o), Contains("image 1") && Contains("RGB pixels"));
  CHECK_FALSE(fs::exists(tmp / "sc3"));
}
