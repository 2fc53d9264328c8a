#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

#include "support/fixtures.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/tasks/bmd/synth.hpp"

using namespace tomograd;
using namespace tomograd::tasks;

namespace {
double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  auto ta = torch::tensor(a, torch::kFloat64), tb = torch::tensor(b, torch::kFloat64);
  ta = ta - ta.mean();
  tb = tb - tb.mean();
  return ((ta * tb).sum() / (ta.norm() * tb.norm())).item<double>();
}
}  // namespace

TEST_CASE("synthetic BMD signal lives in marrow relative to muscle, not in raw intensity", "[tasks]") {
  std::vector<double> bmd, ratio, raw;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int i = 0; i < 24; ++i) {
    BmdPhantomParams p;
    p.bmd_g_cm2 = 0.6 + 0.8 * i / 23.0;
    p.size = 48;
    p.slices = 15;
    p.gain = std::exp(0.4 * (u(rng) - 0.5) * 2);  // strong gain confound: 0.67x .. 1.5x
    p.seed = static_cast<uint64_t>(i);
    BmdPhantom ph = render_bmd_phantom(p);
    const auto& v = ph.volume.data();
    REQUIRE(ph.marrow_mask.any().item<bool>());
    REQUIRE(ph.muscle_mask.any().item<bool>());
    const double marrow = v.masked_select(ph.marrow_mask).mean().item<double>();
    const double muscle = v.masked_select(ph.muscle_mask).mean().item<double>();
    bmd.push_back(p.bmd_g_cm2);
    ratio.push_back(marrow / muscle);
    raw.push_back(marrow);
  }
  const double r_ratio = pearson(ratio, bmd), r_raw = pearson(raw, bmd);
  INFO("pearson(marrow/muscle, bmd) = " << r_ratio << ", pearson(raw marrow, bmd) = " << r_raw);
  CHECK(r_ratio < -0.8);                     // lower BMD: brighter marrow (measured: -0.89)
  CHECK(std::abs(r_raw) < std::abs(r_ratio));  // gain hides part of it in raw values
}

TEST_CASE("synthetic phantoms are reproducible and sagittal", "[tasks]") {
  BmdPhantomParams p;
  p.size = 32;
  p.slices = 16;
  p.seed = 9;
  auto a = render_bmd_phantom(p), b = render_bmd_phantom(p);
  CHECK(torch::equal(a.volume.data(), b.volume.data()));
  p.seed = 10;
  CHECK(!torch::equal(a.volume.data(), render_bmd_phantom(p).volume.data()));
  CHECK(a.volume.orientation_code() == "PIR");
  CHECK(a.volume.depth() == 16);
}

TEST_CASE("synth bmd writes DICOM series and a manifest", "[tasks]") {
  set_progress_enabled(false);
  test::TempDir tmp;
  BmdSynthOptions o;
  o.out = tmp / "cohort";
  o.patients = 3;
  o.scale = 0.0625;
  o.seed = 4;
  auto rows = synthesize_bmd_cohort(o);
  REQUIRE(rows.size() == 3);
  auto m = CsvTable::read(tmp / "cohort" / "manifest.csv");
  CHECK(m.header() == std::vector<std::string>{"patient_id", "path", "bmd"});
  auto bmd = m.numbers("bmd");
  for (double b : bmd) CHECK((b >= 0.6 && b <= 1.4));
  Volume v = io::read_dicom(tmp / "cohort" / m.at(0, 1));
  CHECK(v.rows() == rows[0].rows);
  CHECK(v.depth() == rows[0].slices);
  CHECK((v.depth() >= 15 && v.depth() <= 26));
  CHECK(v.info().modality == "MR");
  CHECK(v.info().patient_id == "BMD0001");
  CHECK(v.orientation_code() == "PIR");
  CHECK_THROWS_WITH(synthesize_bmd_cohort(o), Catch::Contains("not empty"));
  o.force = true;
  CHECK(synthesize_bmd_cohort(o).size() == 3);
}
