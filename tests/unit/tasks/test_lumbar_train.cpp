// Lumbar models: series geometry across series, box sampling, folds, configs, label masking.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>
#include <map>
#include <set>

#include "support/fixtures.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/tasks/lumbar/synth.hpp"
#include "tomograd/tasks/lumbar/geometry.hpp"
#include "tomograd/tasks/lumbar/training.hpp"
#include "tomograd/train/loss.hpp"

using namespace tomograd;
using namespace tomograd::tasks::lumbar;
namespace fs = std::filesystem;

namespace {

double distance(const Vec3& a, const Vec3& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

/// A 3-slice axial series in memory: value = 100 * slice + 10 * row + col, 1 mm pixels, 4 mm slices.
SeriesImage ramp_series() {
  SeriesImage s;
  s.data = torch::zeros({3, 5, 6});
  for (int k = 0; k < 3; ++k) {
    for (int r = 0; r < 5; ++r) {
      for (int c = 0; c < 6; ++c) s.data[k][r][c] = 100 * k + 10 * r + c;
    }
  }
  for (int k = 0; k < 3; ++k) s.positions.push_back({0, 0, 4.0 * k});
  s.instance_numbers = {1, 2, 3};
  s.slice_spacing = 4;
  return s;
}

std::string config_path(const std::string& name) { return std::string(TOMOGRAD_SOURCE_DIR) + "/configs/" + name; }

}  // namespace

TEST_CASE("lumbar geometry: pixels and patient space round-trip, sampling reads the slices", "[tasks][lumbar]") {
  const SeriesImage s = ramp_series();
  const Vec3 p = s.pixel_to_lps(1, 2.0, 3.0);
  CHECK(p == Vec3{2, 3, 4});
  const auto px = s.lps_to_pixel({2.0, 3.0, 5.0});
  CHECK(px.slice == 1);
  CHECK(px.x == Approx(2.0));
  CHECK(px.y == Approx(3.0));
  CHECK(px.distance_mm == Approx(1.0));
  CHECK(s.slice_of_instance(3) == 2);
  CHECK(s.slice_of_instance(9) == -1);

  // Identity axes (depth z, rows y, cols x): the box centred on pixel (2, 2) of slice 1 is the
  // ramp itself, with the neighbouring slices 4 mm away.
  const auto axes = std::array<Vec3, 3>{Vec3{0, 0, 1}, Vec3{0, 1, 0}, Vec3{1, 0, 0}};
  torch::Tensor box = sample_box(s, {2, 2, 4}, axes, {3, 3, 3}, {4, 1, 1});
  CHECK(box[1][1][1].item<float>() == Approx(122));
  CHECK(box[0][0][0].item<float>() == Approx(11));
  CHECK(box[2][2][2].item<float>() == Approx(233));
  // Half a pixel: bilinear; outside the image or between distant slices: 0.
  box = sample_box(s, {2.5, 2, 4}, axes, {1, 1, 1}, {1, 1, 1});
  CHECK(box.item<float>() == Approx(122.5));
  box = sample_box(s, {50, 2, 4}, axes, {1, 1, 1}, {1, 1, 1});
  CHECK(box.item<float>() == 0);
  box = sample_box(s, {2, 2, 30}, axes, {1, 1, 1}, {1, 1, 1});
  CHECK(box.item<float>() == 0);

  // Display axes of an axial series stored with rows toward anterior: flipped to posterior.
  SeriesImage f = s;
  f.row_dir = {0, -1, 0};
  f.normal = {0, 0, -1};
  const auto d = display_axes(f, "axial");
  CHECK(d[1] == Vec3{0, 1, 0});
  CHECK(d[0] == Vec3{0, 0, 1});
  CHECK_THROWS_AS(display_axes(s, "coronal"), ValueError);
}

TEST_CASE("lumbar geometry: a sagittal label lands on the axial slices of its level", "[tasks][lumbar]") {
  set_progress_enabled(false);
  test::TempDir tmp;
  tasks::LumbarSynthOptions o;
  o.out = tmp / "rsna";
  o.studies = 1;
  o.scale = 0.125;
  o.seed = 2;
  o.missing_fraction = 0;
  o.show_progress = false;
  tasks::synthesize_lumbar_cohort(o);
  const LumbarDataset ds = read_dataset(o.out);
  const StudyImages st = load_study(ds, ds.labels.at(0).study_id);
  REQUIRE(st.t1);
  REQUIRE(st.t2);
  REQUIRE(st.axial);
  CHECK(st.axial->depth() == 15);
  const LevelPoints pts = labelled_points(ds, st);
  for (const auto& p : pts) REQUIRE(p);
  for (int l = 0; l < 5; ++l) {
    // The canal point (sagittal T2) and the lateral recesses (axial T2) of a level are a few mm
    // apart in patient space, and the canal point falls on the level's middle axial slice.
    const Vec3& canal = *pts[static_cast<std::size_t>(l)];
    const Vec3& left = *pts[static_cast<std::size_t>(15 + l)];
    const Vec3& right = *pts[static_cast<std::size_t>(20 + l)];
    CHECK(distance(canal, left) < 15);
    CHECK(distance(canal, right) < 15);
    const auto px = st.axial->lps_to_pixel(canal);
    CHECK(st.axial->instance_numbers[static_cast<std::size_t>(px.slice)] == 3 * l + 2);
    // The foramina are on either side of the canal (left = +x in LPS).
    CHECK((*pts[static_cast<std::size_t>(5 + l)])[0] > canal[0] + 5);
    CHECK((*pts[static_cast<std::size_t>(10 + l)])[0] < canal[0] - 5);
  }
}

TEST_CASE("lumbar folds: stratified by study, balanced and seeded", "[tasks][lumbar]") {
  std::vector<StudyLabels> labels(23);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    labels[i].study_id = std::to_string(1000 + i);
    labels[i].grades.fill(0);
    labels[i].grades[2] = static_cast<int>(i % 3);  // worst canal grade 0, 1, 2 in turn
  }
  const auto folds = assign_folds(labels, 5, 7);
  REQUIRE(folds.size() == labels.size());
  std::map<int, int> size;
  std::map<std::pair<int, int>, int> per_stratum;
  for (std::size_t i = 0; i < folds.size(); ++i) {
    ++size[folds[i]];
    ++per_stratum[{folds[i], labels[i].grades[2]}];
  }
  REQUIRE(size.size() == 5);
  for (const auto& [f, n] : size) CHECK((n == 4 || n == 5));
  for (const auto& [key, n] : per_stratum) CHECK(n <= 2);  // 7-8 studies per stratum over 5 folds
  CHECK(assign_folds(labels, 5, 7) == folds);
  CHECK(assign_folds(labels, 5, 8) != folds);
  CHECK_THROWS_AS(assign_folds(labels, 1, 7), ValueError);
  CHECK_THROWS_AS(assign_folds(labels, 30, 7), ValueError);
}

TEST_CASE("lumbar configs: the shipped recipes load, mismatches name the key", "[tasks][lumbar]") {
  for (const char* name : {"lumbar_sagittal.yaml", "lumbar_axial.yaml", "lumbar_combined.yaml", "lumbar_3d.yaml"}) {
    INFO(name);
    const LumbarConfig c = load_config(config_path(name));
    CHECK(c.model.in_channels == c.input.model_channels());
    CHECK(c.loss.class_weights == std::vector<double>{1, 2, 4});
    CHECK(c.train.monitor == "val_score");
  }
  CHECK(load_config(config_path("lumbar_3d.yaml")).model.head.metadata_dim == 4);
  CHECK_THROWS_WITH(load_config(config_path("lumbar_sagittal.yaml"), {"input.kind=axial"}),
                    Catch::Contains("model.in_channels is 9") && Catch::Contains("takes 3 channels"));
  CHECK_THROWS_WITH(load_config(config_path("lumbar_sagittal.yaml"), {"input.kind=coronal"}),
                    Catch::Contains("input.kind"));
  CHECK_THROWS_WITH(load_config(config_path("lumbar_sagittal.yaml"), {"model.head.num_tasks=25"}),
                    Catch::Contains("num_tasks: 5"));
  CHECK_THROWS_WITH(load_config(config_path("lumbar_sagittal.yaml"), {"data.foldz=3"}), Catch::Contains("foldz"));
  CHECK_THROWS_WITH(load_config(config_path("lumbar_3d.yaml"), {"model.arch=resnet18"}),
                    Catch::Contains("3D model"));
}

TEST_CASE("lumbar loss: a missing label contributes nothing", "[tasks][lumbar]") {
  const LumbarConfig c = load_config(config_path("lumbar_sagittal.yaml"));
  const train::LossFn loss = train::make_loss(c.loss);
  torch::manual_seed(3);
  torch::Tensor logits = torch::randn({2, 25, 3}, torch::requires_grad());
  train::Batch b;
  b.target = torch::randint(0, 3, {2, 25}, torch::kLong);
  b.mask = torch::ones({2, 25}, torch::kBool);
  b.mask[1][7] = false;
  const torch::Tensor l1 = loss(logits, b);
  l1.backward();
  // The masked cell's logits get no gradient, and its target or logits change nothing.
  CHECK(logits.grad()[1][7].abs().sum().item<double>() == 0.0);
  CHECK(logits.grad()[1][6].abs().sum().item<double>() > 0.0);
  train::Batch b2 = b;
  b2.target = b.target.clone();
  b2.target[1][7] = (b.target[1][7].item<int64_t>() + 1) % 3;
  torch::Tensor other = logits.detach().clone();
  other[1][7] = torch::tensor({9.0f, -9.0f, 4.0f});
  CHECK(loss(other, b2).item<double>() == Approx(l1.item<double>()));
  // Grades weigh 1, 2, 4: one severe cell counts as much as four normal ones with the same loss.
  train::Batch one;
  one.target = torch::zeros({1, 25}, torch::kLong);
  one.mask = torch::zeros({1, 25}, torch::kBool);
  one.mask[0][0] = one.mask[0][1] = true;
  one.target[0][1] = 2;
  torch::Tensor z = torch::zeros({1, 25, 3});
  z[0][0] = torch::tensor({0.0f, 1.0f, 1.0f});  // -log p(normal) = a
  z[0][1] = torch::tensor({1.0f, 1.0f, 0.0f});  // -log p(severe) = a too
  const double a = -std::log(1.0 / (1.0 + 2.0 * std::exp(1.0)));
  CHECK(loss(z, one).item<double>() == Approx((1 * a + 4 * a) / 5));
}
