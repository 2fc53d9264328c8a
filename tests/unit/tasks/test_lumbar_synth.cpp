#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "support/fixtures.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/volume_io.hpp"
#include "tomograd/tasks/lumbar/synth.hpp"

namespace fs = std::filesystem;
using namespace tomograd;
using namespace tomograd::tasks;

namespace {

// A phantom at 128² (2.3 mm pixels) with chosen severities, everything else Normal/Mild.
LumbarPhantomParams params_with(std::map<std::pair<int, int>, int> severe) {
  LumbarPhantomParams p;
  p.size = 128;
  p.sagittal_slices = 17;
  p.spine_offset_mm = 1.5;
  p.seed = 5;
  for (const auto& [cl, s] : severe) p.severity[lumbar::label_index(cl.first, cl.second)] = s;
  return p;
}

// Mean intensity in a box of +-r pixels around (x, y) on one slice.
double box_mean(const Volume& v, int64_t slice, double x, double y, int64_t rx, int64_t ry) {
  const int64_t c = std::lround(x), r = std::lround(y);
  return v.data()[slice].slice(0, r - ry, r + ry + 1).slice(1, c - rx, c + rx + 1).mean().item<double>();
}

const LumbarLabelPoint& point(const LumbarPhantom& ph, int condition, int level) {
  return ph.points.at(static_cast<std::size_t>(lumbar::label_index(condition, level)));
}

}  // namespace

TEST_CASE("lumbar phantom: severity is visible where it is labelled", "[tasks]") {
  // Severe: spinal canal L4/L5, left foramen L2/L3, right lateral recess L3/L4.
  const LumbarPhantom ph = render_lumbar_phantom(params_with({{{0, 3}, 2}, {{1, 1}, 2}, {{4, 2}, 2}}));
  REQUIRE(ph.points.size() == 25);
  REQUIRE(ph.axial_t2.size() == 5);

  SECTION("canal CSF on axial T2: severe level has far fewer CSF pixels than a normal one") {
    const double severe = ph.axial_csf_mask[3][1].sum().item<double>();
    const double normal = ph.axial_csf_mask[0][1].sum().item<double>();
    INFO("CSF pixels L4/L5 " << severe << ", L1/L2 " << normal);
    CHECK(severe < 0.5 * normal);
    // Measured on the image, not the mask: bright CSF pixels in a box around the canal.
    auto bright = [&](int level) {
      const LumbarLabelPoint& lr = point(ph, 3, level);
      const Volume& v = ph.axial_t2[static_cast<std::size_t>(level)];
      const int64_t r = std::lround(lr.y), c0 = std::lround(v.cols() / 2.0);
      torch::Tensor box = v.data()[1].slice(0, r - 8, r + 9).slice(1, c0 - 12, c0 + 13);
      return (box > 750.0).sum().item<double>();
    };
    INFO("bright axial pixels L4/L5 " << bright(3) << ", L1/L2 " << bright(0));
    CHECK(bright(3) < 0.6 * bright(0));
  }
  SECTION("sagittal T2 midline: the canal is dark at the severe disc") {
    const LumbarLabelPoint& s = point(ph, 0, 3);
    const LumbarLabelPoint& n = point(ph, 0, 0);
    CHECK(s.series == LumbarSeries::kSagittalT2);
    // Bright (CSF) pixels along the A-P line through the disc, +-5 pixels (12 mm) around the canal.
    auto bright = [&](const LumbarLabelPoint& pt) {
      const int64_t r = std::lround(pt.y), c = std::lround(pt.x);
      return (ph.sagittal_t2.data()[pt.slice][r].slice(0, c - 5, c + 6) > 700.0).sum().item<double>();
    };
    INFO("CSF pixels across the canal at L4/L5 " << bright(s) << ", L1/L2 " << bright(n));
    CHECK(bright(n) >= 5);
    CHECK(bright(s) <= 0.4 * bright(n));
  }
  SECTION("parasagittal T1: the severe foramen loses its fat, the other side keeps it") {
    const LumbarLabelPoint& l = point(ph, 1, 1);
    const LumbarLabelPoint& r = point(ph, 2, 1);
    CHECK(l.series == LumbarSeries::kSagittalT1);
    CHECK(l.slice < r.slice);  // slices run from the patient's left to right
    const double fat_left = box_mean(ph.sagittal_t1, l.slice, l.x, l.y, 1, 3);
    const double fat_right = box_mean(ph.sagittal_t1, r.slice, r.x, r.y, 1, 3);
    INFO("foramen L2/L3 left " << fat_left << ", right " << fat_right);
    CHECK(fat_left < 0.7 * fat_right);
  }
  SECTION("axial T2: the severe lateral recess is closed on its side only") {
    const LumbarLabelPoint& r = point(ph, 4, 2);
    const LumbarLabelPoint& l = point(ph, 3, 2);
    CHECK(r.x < l.x);  // the patient's right is on the image left
    const Volume& v = ph.axial_t2[2];
    const double right = box_mean(v, 1, r.x, r.y, 1, 1), left = box_mean(v, 1, l.x, l.y, 1, 1);
    INFO("recess L3/L4 right " << right << ", left " << left);
    CHECK(right < 0.6 * left);
  }
}

TEST_CASE("lumbar phantom: geometry is sagittal/axial in one patient frame and reproducible", "[tasks]") {
  LumbarPhantomParams p = params_with({});
  p.size = 48;
  const LumbarPhantom a = render_lumbar_phantom(p), b = render_lumbar_phantom(p);
  CHECK(torch::equal(a.sagittal_t1.data(), b.sagittal_t1.data()));
  CHECK(torch::equal(a.axial_t2[4].data(), b.axial_t2[4].data()));
  CHECK(a.sagittal_t1.orientation_code() == "PIR");
  CHECK(a.axial_t2[0].orientation_code() == "LPS");
  // The spinal point (sagittal T2) and the middle axial slice of its level lie on the same disc.
  for (int l = 0; l < lumbar::kLevels; ++l) {
    const LumbarLabelPoint& s = point(a, 0, l);
    const Vec3 sag = a.sagittal_t2.index_to_lps(static_cast<double>(s.slice), s.y, s.x);
    const Vec3 ax = a.axial_t2[static_cast<std::size_t>(l)].index_to_lps(1, 0, 0);
    CHECK(std::abs(sag[2] - ax[2]) < a.sagittal_t2.spacing_mm()[1]);
  }
  p.seed = 6;
  CHECK(!torch::equal(a.sagittal_t1.data(), render_lumbar_phantom(p).sagittal_t1.data()));
  p.severity[0] = 3;
  CHECK_THROWS_AS(render_lumbar_phantom(p), ValueError);
}

TEST_CASE("synth lumbar writes the RSNA 2024 layout", "[tasks]") {
  set_progress_enabled(false);
  test::TempDir tmp;
  LumbarSynthOptions o;
  o.out = tmp / "rsna";
  o.studies = 2;
  o.scale = 0.0625;
  o.seed = 3;
  o.threads = 2;
  const auto rows = synthesize_lumbar_cohort(o);
  REQUIRE(rows.size() == 2);

  auto desc = CsvTable::read(o.out / "train_series_descriptions.csv");
  CHECK(desc.header() == std::vector<std::string>{"study_id", "series_id", "series_description"});
  CHECK(desc.num_rows() == 6);
  auto train = CsvTable::read(o.out / "train.csv");
  REQUIRE(train.num_cols() == 26);
  CHECK(train.header()[0] == "study_id");
  CHECK(train.header()[1] == "spinal_canal_stenosis_l1_l2");
  CHECK(train.header()[7] == "left_neural_foraminal_narrowing_l2_l3");
  CHECK(train.header()[25] == "right_subarticular_stenosis_l5_s1");
  for (std::size_t r = 0; r < train.num_rows(); ++r) {
    for (std::size_t c = 1; c < 26; ++c) {
      const std::string& v = train.at(r, c);
      CHECK((v.empty() || v == "Normal/Mild" || v == "Moderate" || v == "Severe"));
    }
  }
  auto coords = CsvTable::read(o.out / "train_label_coordinates.csv");
  CHECK(coords.header() ==
        std::vector<std::string>{"study_id", "series_id", "instance_number", "condition", "level", "x", "y"});
  REQUIRE(coords.num_rows() > 0);

  std::map<std::string, std::string> description_of;  // series id -> description
  for (std::size_t r = 0; r < desc.num_rows(); ++r) {
    CHECK(desc.at(r, 0).size() >= 7);
    description_of[desc.at(r, 1)] = desc.at(r, 2);
  }
  const std::set<std::string> conditions{"Spinal Canal Stenosis", "Left Neural Foraminal Narrowing",
                                         "Right Neural Foraminal Narrowing", "Left Subarticular Stenosis",
                                         "Right Subarticular Stenosis"};
  const std::map<std::string, std::string> series_of{{"Spinal Canal Stenosis", "Sagittal T2/STIR"},
                                                     {"Left Neural Foraminal Narrowing", "Sagittal T1"},
                                                     {"Right Neural Foraminal Narrowing", "Sagittal T1"},
                                                     {"Left Subarticular Stenosis", "Axial T2"},
                                                     {"Right Subarticular Stenosis", "Axial T2"}};
  const int64_t size = rows[0].size;
  CHECK(size == 32);
  for (std::size_t r = 0; r < coords.num_rows(); ++r) {
    const std::string& cond = coords.at(r, 3);
    CHECK(conditions.count(cond) == 1);
    CHECK(description_of.at(coords.at(r, 1)) == series_of.at(cond));
    const fs::path file = o.out / "train_images" / coords.at(r, 0) / coords.at(r, 1) / (coords.at(r, 2) + ".dcm");
    CHECK(fs::exists(file));
    const double x = std::stod(coords.at(r, 5)), y = std::stod(coords.at(r, 6));
    CHECK((x >= 0 && x < size && y >= 0 && y < size));
  }

  // Read back: sagittal and axial series of the first study.
  const fs::path study = o.out / "train_images" / std::to_string(rows[0].study_id);
  Volume sag = io::load_volume(study / std::to_string(rows[0].series_id[1]));
  CHECK(sag.orientation_code() == "PIR");
  CHECK(sag.depth() == rows[0].sagittal_slices);
  CHECK((sag.depth() >= 15 && sag.depth() <= 20));
  CHECK(sag.info().modality == "MR");
  CHECK(sag.info().series_description == "Sagittal T2/STIR");
  CHECK(sag.info().study_uid == std::to_string(rows[0].study_id));
  CHECK(sag.info().series_uid == std::to_string(rows[0].series_id[1]));
  CHECK(fs::exists(study / std::to_string(rows[0].series_id[1]) / "1.dcm"));
  Volume ax = io::load_volume(study / std::to_string(rows[0].series_id[2]));
  CHECK(ax.depth() == 15);
  CHECK(ax.orientation_code() == "LPS");
  CHECK(ax.info().series_description == "Axial T2");
  for (int i = 1; i <= 15; ++i) CHECK(fs::exists(study / std::to_string(rows[0].series_id[2]) / (std::to_string(i) + ".dcm")));
  // Axial instance 1 is the most superior slice (L1/L2), the volume is sorted feet to head.
  REQUIRE(ax.info().instance_numbers.size() == 15);
  CHECK(ax.info().instance_numbers.front() == 15);
  CHECK(ax.info().instance_numbers.back() == 1);

  SECTION("deterministic whatever the thread count; refuses a non-empty folder") {
    LumbarSynthOptions o1 = o;
    o1.out = tmp / "one_thread";
    o1.threads = 1;
    const auto rows1 = synthesize_lumbar_cohort(o1);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      CHECK(rows1[i].study_id == rows[i].study_id);
      CHECK(rows1[i].series_id == rows[i].series_id);
      CHECK(rows1[i].severity == rows[i].severity);
    }
    auto read = [](const fs::path& p) { return CsvTable::read(p).to_string(); };
    CHECK(read(o1.out / "train.csv") == read(o.out / "train.csv"));
    CHECK(read(o1.out / "train_label_coordinates.csv") == read(o.out / "train_label_coordinates.csv"));
    Volume sag1 = io::load_volume(o1.out / "train_images" / std::to_string(rows[0].study_id) /
                                  std::to_string(rows[0].series_id[1]));
    CHECK(torch::equal(sag1.data(), sag.data()));
    CHECK_THROWS_WITH(synthesize_lumbar_cohort(o), Catch::Contains("not empty"));
    o.force = true;
    CHECK(synthesize_lumbar_cohort(o).size() == 2);
  }
}

TEST_CASE("synth lumbar: severities are about 70/20/10 % with about 5 % missing", "[tasks]") {
  // The draws are what matter: count them over a 40-study cohort written at 32².
  set_progress_enabled(false);
  test::TempDir tmp;
  LumbarSynthOptions o;
  o.out = tmp / "c";
  o.studies = 40;
  o.scale = 0.0625;
  o.seed = 11;
  const auto rows = synthesize_lumbar_cohort(o);
  double counts[4] = {0, 0, 0, 0};
  for (const auto& r : rows) {
    for (int s : r.severity) counts[s + 1] += 1;
  }
  const double total = 40 * 25;
  INFO("missing " << counts[0] << ", normal " << counts[1] << ", moderate " << counts[2] << ", severe " << counts[3]);
  CHECK(counts[0] / total < 0.09);
  CHECK(counts[0] > 0);
  const double labelled = total - counts[0];
  CHECK(std::abs(counts[1] / labelled - 0.70) < 0.08);
  CHECK(std::abs(counts[2] / labelled - 0.20) < 0.07);
  CHECK(std::abs(counts[3] / labelled - 0.10) < 0.06);
}
