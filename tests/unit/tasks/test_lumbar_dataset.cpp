// The RSNA 2024 dataset folder: checks that name every bad row, and annotated PNG export.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/tasks/lumbar/dataset.hpp"

using namespace tomograd;
using namespace tomograd::tasks::lumbar;
namespace fs = std::filesystem;

namespace {

/// A series of @p slices 48x64 images written as <instance_number>.dcm (1-based).
void write_series(const fs::path& dir, int slices) {
  Volume v(torch::rand({slices, 48, 64}) * 1000, {4, 0.7, 0.7});
  io::DicomWriteOptions o;
  o.modality = "MR";
  const auto files = io::write_dicom_series(v, dir, o);
  for (std::size_t i = 0; i < files.size(); ++i) fs::rename(files[i], dir / (std::to_string(i + 1) + ".dcm"));
}

std::string train_csv(const std::string& study) {
  std::string header = "study_id", row = study;
  for (const auto& c : label_columns()) {
    header += "," + c;
    row += c == "spinal_canal_stenosis_l4_l5" ? ",Severe" : ",Normal/Mild";
  }
  return header + "\n" + row + "\n";
}

}  // namespace

TEST_CASE("lumbar dataset: a good folder reads, PNG export draws the labels", "[tasks][lumbar]") {
  set_progress_enabled(false);
  test::TempDir tmp;
  const fs::path d = tmp / "rsna";
  write_series(d / "train_images" / "100" / "11", 5);
  write_file_atomic(d / "train.csv", train_csv("100"));
  write_file_atomic(d / "train_series_descriptions.csv", "study_id,series_id,series_description\n100,11,Sagittal T2/STIR\n");
  write_file_atomic(d / "train_label_coordinates.csv",
                    "study_id,series_id,instance_number,condition,level,x,y\n"
                    "100,11,3,Spinal Canal Stenosis,L4/L5,30.5,20.25\n");
  const auto ds = read_dataset(d);
  REQUIRE(ds.labels.size() == 1);
  REQUIRE(ds.series.size() == 1);
  REQUIRE(ds.coordinates.size() == 1);
  CHECK(ds.coordinates[0].condition == 0);
  CHECK(ds.coordinates[0].level == 3);
  CHECK(ds.coordinates[0].x == 30.5);

  CHECK(export_pngs(ds, tmp / "plain", false) == 5);
  CHECK(export_pngs(ds, tmp / "ann", true) == 5);
  CHECK(export_pngs(ds, tmp / "ann", true) == 0);  // kept without force
  CHECK(fs::exists(tmp / "ann" / "100_11_3.png"));
  // The annotated instance differs from the plain one; the others are the same image.
  CHECK(read_file(tmp / "ann" / "100_11_3.png") != read_file(tmp / "plain" / "100_11_3.png"));
  CHECK(fs::file_size(tmp / "ann" / "100_11_1.png") > 0);
}

TEST_CASE("lumbar dataset: every bad row is named", "[tasks][lumbar]") {
  set_progress_enabled(false);
  test::TempDir tmp;
  const fs::path d = tmp / "rsna";
  write_series(d / "train_images" / "100" / "11", 3);
  write_file_atomic(d / "train.csv", train_csv("100") + train_csv("200").substr(train_csv("200").find('\n') + 1));
  write_file_atomic(d / "train_series_descriptions.csv",
                    "study_id,series_id,series_description\n"
                    "100,11,Sagittal T2/STIR\n"
                    "100,12,Coronal T1\n"         // line 3: unknown description
                    "100,13,Axial T2\n");         // line 4: no folder
  write_file_atomic(d / "train_label_coordinates.csv",
                    "study_id,series_id,instance_number,condition,level,x,y\n"
                    "100,11,2,Spinal Stenosis,L4/L5,10,10\n"              // line 2: condition
                    "100,11,2,Spinal Canal Stenosis,L5/L6,10,10\n"        // line 3: level
                    "100,11,9,Spinal Canal Stenosis,L4/L5,10,10\n"        // line 4: no file
                    "100,11,2,Spinal Canal Stenosis,L4/L5,70,10\n"        // line 5: outside (64 wide)
                    "100,99,2,Spinal Canal Stenosis,L4/L5,10,10\n");      // line 6: unknown series
  try {
    read_dataset(d);
    FAIL("expected an error");
  } catch (const CsvError& e) {
    const std::string m = e.what();
    CHECK_THAT(m, Catch::Contains("8 problems"));
    CHECK_THAT(m, Catch::Contains("train_series_descriptions.csv line 3") && Catch::Contains("'Coronal T1'"));
    CHECK_THAT(m, Catch::Contains("line 4") && Catch::Contains("no folder train_images/100/13"));
    CHECK_THAT(m, Catch::Contains("train.csv line 3 (study 200): no series of this study"));
    CHECK_THAT(m, Catch::Contains("train_label_coordinates.csv line 2") && Catch::Contains("unknown condition 'Spinal Stenosis'"));
    CHECK_THAT(m, Catch::Contains("line 3") && Catch::Contains("unknown level 'L5/L6'"));
    CHECK_THAT(m, Catch::Contains("instance 9 has no file"));
    CHECK_THAT(m, Catch::Contains("(70, 10) is outside the 64x48 image"));
    CHECK_THAT(m, Catch::Contains("line 6") && Catch::Contains("series 99 is not a usable series"));
  }
}
