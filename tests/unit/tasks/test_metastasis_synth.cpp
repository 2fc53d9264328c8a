#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <fstream>
#include <numeric>
#include <sstream>

#include "support/fixtures.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/volume_io.hpp"
#include "tomograd/tasks/metastasis/synth.hpp"

using namespace tomograd;
using namespace tomograd::tasks;

namespace {

// Distance in mm from @p c (LPS) to every voxel centre, [D,H,W] float64 (identity direction).
torch::Tensor distance_mm(const Volume& v, const Vec3& c) {
  const auto f = torch::TensorOptions().dtype(torch::kFloat64);
  const Vec3& o = v.origin_lps();
  const Vec3& s = v.spacing_mm();
  auto z = (torch::arange(v.depth(), f) * s[0] + o[2] - c[2]).view({-1, 1, 1});
  auto y = (torch::arange(v.rows(), f) * s[1] + o[1] - c[1]).view({1, -1, 1});
  auto x = (torch::arange(v.cols(), f) * s[2] + o[0] - c[0]).view({1, 1, -1});
  return (z * z + y * y + x * x).sqrt();
}

double mean_where(const torch::Tensor& values, const torch::Tensor& where) {
  REQUIRE(where.any().item<bool>());
  return values.masked_select(where).to(torch::kFloat64).mean().item<double>();
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

MetastasisPhantomParams small_params(uint64_t seed) {
  MetastasisPhantomParams p;
  p.size = 64;     // 3.75 mm pixels over 240 mm
  p.slices = 36;
  p.slice_spacing_mm = 4.0;
  p.seed = seed;
  return p;
}

}  // namespace

TEST_CASE("synthetic metastases lie in the parenchyma, clear of ventricles and skull", "[tasks]") {
  for (uint64_t seed = 0; seed < 6; ++seed) {
    MetastasisPhantomParams p = small_params(seed);
    // Per-patient pose and size as the cohort draws them, at their extremes.
    p.head_scale = seed % 2 ? 0.92 : 1.08;
    p.yaw_deg = seed % 3 == 0 ? -6.0 : 6.0;
    p.shift_x_mm = seed % 2 ? 10.0 : -10.0;
    p.shift_y_mm = seed % 3 == 1 ? 10.0 : -10.0;
    p.random_lesions = 3;
    MetastasisPhantom ph = render_metastasis_phantom(p);
    INFO("seed " << seed);
    REQUIRE(ph.lesions.size() == 3);
    const auto lesion = ph.lesion_mask.to(torch::kBool);
    const auto parenchyma = ph.parenchyma_mask.to(torch::kBool);
    const auto brain = ph.brain_mask.to(torch::kBool);
    CHECK((lesion & ~brain).sum().item<int64_t>() == 0);
    CHECK((lesion & ~parenchyma).sum().item<int64_t>() == 0);
    CHECK((lesion & ph.ventricle_mask.to(torch::kBool)).sum().item<int64_t>() == 0);
    // Not parenchyma = ventricles, CSF, skull, scalp, air: at least the 2 mm clearance between
    // each lesion's surface and the centre of any such voxel.
    const auto outside = ~parenchyma;
    for (std::size_t k = 0; k < ph.lesions.size(); ++k) {
      const auto& l = ph.lesions[k];
      INFO("lesion " << k << " at " << l.center_lps_mm[0] << "," << l.center_lps_mm[1] << "," << l.center_lps_mm[2]
                     << " d=" << l.diameter_mm);
      CHECK((l.diameter_mm >= 3.0 && l.diameter_mm <= 15.0));
      CHECK((l.rim_hu >= 25.0 && l.rim_hu <= 45.0));
      if (l.kind == LesionKind::kRing) CHECK(l.diameter_mm >= 6.0);
      const auto dist = distance_mm(ph.volume, l.center_lps_mm);
      const double nearest = dist.masked_select(outside).min().item<double>();
      CHECK(nearest >= l.diameter_mm / 2 + 2.0);
      // Only a few slices: those the sphere reaches, plus one for partial volume.
      const auto own = lesion & dist.le(l.diameter_mm / 2 + 4.0);
      const int64_t slices = own.any(2).any(1).sum().item<int64_t>();
      CHECK(slices >= 1);
      CHECK(slices <= static_cast<int64_t>(std::ceil(l.diameter_mm / p.slice_spacing_mm)) + 1);
      for (std::size_t m = 0; m < k; ++m) {  // lesions do not touch each other
        const auto& o = ph.lesions[m];
        const double dx = o.center_lps_mm[0] - l.center_lps_mm[0], dy = o.center_lps_mm[1] - l.center_lps_mm[1],
                     dz = o.center_lps_mm[2] - l.center_lps_mm[2];
        CHECK(std::sqrt(dx * dx + dy * dy + dz * dz) > (l.diameter_mm + o.diameter_mm) / 2);
      }
    }
  }
}

TEST_CASE("hyperdense lesions outshine the parenchyma, ring lesions have a bright rim and a dark core", "[tasks]") {
  MetastasisPhantomParams p;
  p.size = 128;  // 1.875 mm pixels
  p.slices = 30;
  p.slice_spacing_mm = 3.0;
  p.noise_hu = 0.0;
  p.seed = 5;
  MetastasisLesion solid;  // in the right hemisphere's white matter (x < 0: patient right)
  solid.center_lps_mm = {-40.0, 0.0, 0.0};
  solid.diameter_mm = 10.0;
  solid.kind = LesionKind::kHyperdense;
  solid.rim_hu = 35.0;
  MetastasisLesion ring;  // mirror image in the left hemisphere
  ring.center_lps_mm = {40.0, 0.0, 0.0};
  ring.diameter_mm = 14.0;
  ring.kind = LesionKind::kRing;
  ring.rim_hu = 35.0;
  ring.core_hu = -12.0;
  ring.rim_mm = 3.0;
  p.lesions = {solid, ring};
  MetastasisPhantom ph = render_metastasis_phantom(p);
  const auto& hu = ph.volume.data();
  const auto lesion = ph.lesion_mask.to(torch::kBool);
  const auto parenchyma = ph.parenchyma_mask.to(torch::kBool);

  SECTION("hyperdense") {
    const auto d = distance_mm(ph.volume, solid.center_lps_mm);
    const double inside = mean_where(hu, lesion & d.le(5.0));
    const double around = mean_where(hu, parenchyma & d.ge(8.0) & d.le(14.0));
    INFO("lesion " << inside << " HU, parenchyma around it " << around << " HU");
    CHECK(inside - around > 20.0);
    CHECK(inside - around < 45.0);
  }
  SECTION("ring") {
    const auto d = distance_mm(ph.volume, ring.center_lps_mm);
    const double core = mean_where(hu, d.le(2.0));
    const double rim = mean_where(hu, d.ge(4.5) & d.le(6.5));
    const double around = mean_where(hu, parenchyma & d.ge(10.0) & d.le(16.0));
    INFO("core " << core << " HU, rim " << rim << " HU, parenchyma around " << around << " HU");
    CHECK(rim - core > 25.0);
    CHECK(rim - around > 15.0);
    CHECK(core < around);  // hypodense core
  }
  SECTION("the mask covers both lesions and nothing else") {
    CHECK(lesion.sum().item<int64_t>() > 0);
    const auto far = distance_mm(ph.volume, solid.center_lps_mm).gt(8.0) &
                     distance_mm(ph.volume, ring.center_lps_mm).gt(10.0);
    CHECK((lesion & far).sum().item<int64_t>() == 0);
  }
}

TEST_CASE("drawn lesions are visible against noise, negatives have none and differ only there", "[tasks]") {
  MetastasisPhantomParams p = small_params(11);
  p.size = 128;
  p.noise_hu = 6.0;
  p.cupping_hu = 8.0;
  p.offset_hu = 3.0;
  p.gradient_hu = {4.0, -4.0, 4.0};
  p.random_lesions = 3;
  MetastasisPhantom pos = render_metastasis_phantom(p);
  p.random_lesions = 0;
  MetastasisPhantom neg = render_metastasis_phantom(p);
  CHECK(neg.lesions.empty());
  CHECK(neg.lesion_mask.sum().item<int64_t>() == 0);
  const auto lesion = pos.lesion_mask.to(torch::kBool);
  // Same patient, same scanner, same noise: only voxels touched by a lesion differ.
  const auto changed = pos.volume.data().ne(neg.volume.data());
  torch::Tensor near = torch::zeros_like(changed);
  for (const auto& l : pos.lesions) near = near | distance_mm(pos.volume, l.center_lps_mm).le(l.diameter_mm / 2 + 4.0);
  CHECK(changed.any().item<bool>());
  CHECK((changed & ~near).sum().item<int64_t>() == 0);
  for (const auto& l : pos.lesions) {
    const auto d = distance_mm(pos.volume, l.center_lps_mm);
    const auto own = lesion & d.le(l.diameter_mm / 2 + 4.0);
    const double delta = mean_where(pos.volume.data(), own) - mean_where(neg.volume.data(), own);
    INFO("d=" << l.diameter_mm << " " << lesion_kind_name(l.kind) << " rim " << l.rim_hu << " HU: +" << delta);
    CHECK(delta > 0.0);
    if (l.diameter_mm >= 6.0 && l.kind == LesionKind::kHyperdense) CHECK(delta > 10.0);
  }
}

TEST_CASE("metastasis phantoms are reproducible, axial and stored as int16 HU", "[tasks]") {
  MetastasisPhantomParams p = small_params(9);
  p.size = 32;
  p.random_lesions = 2;
  auto a = render_metastasis_phantom(p), b = render_metastasis_phantom(p);
  CHECK(torch::equal(a.volume.data(), b.volume.data()));
  CHECK(torch::equal(a.lesion_mask, b.lesion_mask));
  p.seed = 10;
  CHECK(!torch::equal(a.volume.data(), render_metastasis_phantom(p).volume.data()));
  CHECK(a.volume.orientation_code() == "LPS");
  CHECK(a.volume.depth() == 36);
  const auto& v = a.volume.data();
  CHECK(torch::equal(v, v.round()));
  CHECK(v.min().item<double>() >= -1024.0);
  CHECK(v.max().item<double>() <= 3071.0);
  CHECK(v.max().item<double>() > 500.0);  // skull
  p.size = 4;
  CHECK_THROWS_AS(render_metastasis_phantom(p), ValueError);
  p.size = 32;
  p.lesions = {MetastasisLesion{}};
  p.lesions[0].diameter_mm = 0.0;
  CHECK_THROWS_WITH(render_metastasis_phantom(p), Catch::Contains("diameter_mm"));
}

TEST_CASE("synth metastasis gives exactly round(N*P) positives", "[tasks]") {
  set_progress_enabled(false);
  test::TempDir tmp;
  const std::vector<std::pair<int, double>> cases{{10, 0.3}, {7, 0.5}, {5, 0.0}, {3, 1.0}};
  int run = 0;
  for (const auto& [n, prevalence] : cases) {
    MetastasisSynthOptions o;
    o.out = tmp / ("c" + std::to_string(run++));
    o.patients = n;
    o.prevalence = prevalence;
    o.scale = 0.0625;
    o.seed = 21;
    auto rows = synthesize_metastasis_cohort(o);
    const int positives = std::accumulate(rows.begin(), rows.end(), 0, [](int s, const auto& r) { return s + r.label; });
    INFO(n << " patients at prevalence " << prevalence);
    CHECK(positives == static_cast<int>(std::llround(n * prevalence)));
    for (const auto& r : rows) {
      CHECK(r.lesions.empty() == (r.label == 0));
      CHECK((r.lesions.size() <= 3));
    }
  }
  CHECK(run == 4);
}

TEST_CASE("synth metastasis writes CT series that read back in HU, and labels.csv", "[tasks]") {
  set_progress_enabled(false);
  test::TempDir tmp;
  MetastasisSynthOptions o;
  o.out = tmp / "cohort";
  o.patients = 4;
  o.scale = 0.0625;
  o.seed = 4;
  auto rows = synthesize_metastasis_cohort(o);
  REQUIRE(rows.size() == 4);
  auto labels = CsvTable::read(tmp / "cohort" / "labels.csv");
  CHECK(labels.header() == std::vector<std::string>{"patient_id", "label"});
  REQUIRE(labels.num_rows() == 4);
  std::size_t lesion_count = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    INFO(r.patient_id);
    char id[32];
    std::snprintf(id, sizeof id, "MET%04zu", i + 1);
    CHECK(r.patient_id == id);
    CHECK(labels.at(i, 0) == r.patient_id);
    CHECK(labels.at(i, 1) == std::to_string(r.label));
    lesion_count += r.lesions.size();
    Volume v = io::load_volume(tmp / "cohort" / "CTs" / r.patient_id);
    CHECK(v.info().modality == "CT");
    CHECK(v.info().patient_id == r.patient_id);
    CHECK(v.info().rescale_intercept == -1024.0);
    CHECK(v.info().rescale_slope == 1.0);
    CHECK(v.orientation_code() == "LPS");
    CHECK(v.rows() == 32);
    CHECK(v.cols() == 32);
    CHECK(v.depth() == r.slices);
    CHECK((r.slices >= 30 && r.slices <= 50));
    CHECK(v.spacing_mm()[0] == Approx(r.slice_spacing_mm).margin(1e-3));
    CHECK((r.slice_spacing_mm >= 3.0 && r.slice_spacing_mm <= 5.0));
    CHECK(v.spacing_mm()[1] == Approx(240.0 / 32).margin(1e-3));
    // HU: air in the corner, bone in the skull, nothing under -1024.
    const auto& hu = v.data();
    CHECK(hu.min().item<double>() >= -1024.0);
    CHECK(hu.index({torch::indexing::Slice(), torch::indexing::Slice(0, 3), torch::indexing::Slice(0, 3)})
              .mean().item<double>() == Approx(-1000.0).margin(15.0));
    CHECK(hu.max().item<double>() > 500.0);
  }
  auto lesions = CsvTable::read(tmp / "cohort" / "lesions.csv");
  CHECK(lesions.num_rows() == lesion_count);
  CHECK_THROWS_WITH(synthesize_metastasis_cohort(o), Catch::Contains("not empty"));
  o.force = true;
  CHECK(synthesize_metastasis_cohort(o).size() == 4);
}

TEST_CASE("synth metastasis is deterministic per seed and patient, whatever the threads", "[tasks]") {
  set_progress_enabled(false);
  test::TempDir tmp;
  MetastasisSynthOptions o;
  o.patients = 4;
  o.scale = 0.0625;
  o.seed = 8;
  o.out = tmp / "a";
  o.threads = 1;
  auto a = synthesize_metastasis_cohort(o);
  o.out = tmp / "b";
  o.threads = 3;
  auto b = synthesize_metastasis_cohort(o);
  CHECK(slurp(tmp / "a" / "labels.csv") == slurp(tmp / "b" / "labels.csv"));
  CHECK(slurp(tmp / "a" / "lesions.csv") == slurp(tmp / "b" / "lesions.csv"));
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(a[i].patient_id);
    Volume va = io::load_volume(tmp / "a" / a[i].path), vb = io::load_volume(tmp / "b" / b[i].path);
    CHECK(torch::equal(va.data(), vb.data()));
  }
  // A bigger cohort keeps each patient's scan (its label may move with the shuffle).
  o.out = tmp / "c";
  o.patients = 6;
  auto c = synthesize_metastasis_cohort(o);
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(c[i].slices == a[i].slices);
    CHECK(c[i].slice_spacing_mm == a[i].slice_spacing_mm);
  }
  o.out = tmp / "d";
  o.patients = 4;
  o.seed = 9;
  auto d = synthesize_metastasis_cohort(o);
  bool differs = false;
  for (std::size_t i = 0; i < a.size(); ++i) differs = differs || d[i].slices != a[i].slices;
  CHECK(differs);
}

TEST_CASE("synth metastasis rejects bad options", "[tasks]") {
  test::TempDir tmp;
  MetastasisSynthOptions o;
  o.out = tmp / "x";
  o.patients = 0;
  CHECK_THROWS_WITH(synthesize_metastasis_cohort(o), Catch::Contains("--patients"));
  o.patients = 2;
  o.scale = 0;
  CHECK_THROWS_WITH(synthesize_metastasis_cohort(o), Catch::Contains("--scale"));
  o.scale = 0.0625;
  o.prevalence = 1.5;
  CHECK_THROWS_WITH(synthesize_metastasis_cohort(o), Catch::Contains("--prevalence"));
}
