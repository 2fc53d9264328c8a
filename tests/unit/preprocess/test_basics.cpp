// Windowing, normalization, resampling, 2.5D stacking and binary morphology: hand-checked values.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <random>

#include "tomograd/core/error.hpp"
#include "tomograd/preprocess/intensity.hpp"
#include "tomograd/preprocess/morphology.hpp"
#include "tomograd/preprocess/resample.hpp"
#include "tomograd/preprocess/slices.hpp"

using namespace tomograd;
using namespace tomograd::preprocess;

TEST_CASE("apply_window maps HU through centre/width to [0,1]", "[preprocess]") {
  auto hu = torch::tensor({-1000.0f, -10.0f, 0.0f, 40.0f, 60.0f, 80.0f, 100.0f, NAN});
  auto w = apply_window(hu, Window{40, 80});  // brain: [0, 80] HU
  std::vector<float> expect{0, 0, 0, 0.5f, 0.75f, 1, 1, 0};
  for (size_t i = 0; i < expect.size(); ++i) CHECK(w[i].item<float>() == Approx(expect[i]));
  auto two = apply_windows(hu.reshape({2, 4}), {Window{40, 80}, Window{600, 2800}});
  CHECK(two.sizes() == torch::IntArrayRef({2, 2, 4}));
  // bone 600/2800: [-800, 2000]; 0 HU -> 800/2800
  CHECK(two[1][0][2].item<float>() == Approx(800.0 / 2800.0));
  CHECK_THROWS_AS(apply_window(hu, Window{40, 0}), ValueError);
}

TEST_CASE("normalize: z-score, min-max and fixed with and without a mask", "[preprocess]") {
  auto x = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).reshape({1, 2, 2});
  NormalizeOptions z;
  auto zs = normalize(x, z).reshape(-1);
  // mean 2.5, population std sqrt(1.25) = 1.1180
  std::vector<double> expect{-1.3416, -0.4472, 0.4472, 1.3416};
  for (int i = 0; i < 4; ++i) CHECK(zs[i].item<float>() == Approx(expect[i]).epsilon(1e-3));
  // Statistics over the mask {2, 4}: mean 3, std 1; outside -> 0.
  auto mask = torch::tensor({0, 1, 0, 1}, torch::kUInt8).reshape({2, 2});
  auto zm = normalize(x, z, mask).reshape(-1);
  CHECK(zm[0].item<float>() == 0.0f);
  CHECK(zm[1].item<float>() == Approx(-1.0));
  CHECK(zm[3].item<float>() == Approx(1.0));
  NormalizeOptions mm;
  mm.method = NormalizeMethod::kMinMax;
  auto m = normalize(x, mm).reshape(-1);
  CHECK(m[0].item<float>() == 0.0f);
  CHECK(m[1].item<float>() == Approx(1.0 / 3.0));
  CHECK(m[3].item<float>() == 1.0f);
  NormalizeOptions fx;
  fx.method = NormalizeMethod::kFixed;
  fx.mean = {0.5};
  fx.std = {0.25};
  CHECK(normalize(x, fx).reshape(-1)[0].item<float>() == Approx(2.0));  // (1 - 0.5) / 0.25
  CHECK_THROWS_AS(normalize(x, z, torch::zeros({2, 2}, torch::kUInt8)), ValueError);
  CHECK(parse_normalize_method("minmax") == NormalizeMethod::kMinMax);
  CHECK_THROWS_WITH(parse_normalize_method("zscor"), Catch::Contains("valid: none, zscore"));
}

TEST_CASE("resize: nearest keeps masks binary, spacing keeps the field of view", "[preprocess]") {
  auto mask = (torch::rand({3, 37, 41}) > 0.5).to(torch::kUInt8);
  auto r = resize_slices(mask, 64, 50, Interpolation::kNearest);
  CHECK(r.sizes() == torch::IntArrayRef({3, 64, 50}));
  CHECK(r.scalar_type() == torch::kUInt8);
  CHECK(torch::logical_or(r == 0, r == 1).all().item<bool>());
  // Linear on a mask would create other values: nearest is the one for masks.
  auto lin = resize_slices(mask.to(torch::kFloat32), 64, 50, Interpolation::kLinear);
  CHECK(torch::logical_and(lin > 0.01, lin < 0.99).any().item<bool>());
  // A constant image stays constant; 2x downscale of a 2x2 checker block averages.
  auto block = torch::tensor({0.0f, 2.0f, 4.0f, 6.0f}).reshape({2, 2});
  CHECK(resize_slices(block, 1, 1, Interpolation::kLinear).item<float>() == Approx(3.0));
  Volume v(torch::zeros({4, 20, 30}), {2.0, 1.0, 1.0}, {10, 20, 30});
  Volume s = resize_in_plane(v, 10, 10);
  CHECK(s.spacing_mm()[1] == Approx(2.0));
  CHECK(s.spacing_mm()[2] == Approx(3.0));
  // First voxel centre moves by half the spacing change: x by (3-1)/2, y by (2-1)/2.
  CHECK(s.origin_lps()[0] == Approx(11.0));
  CHECK(s.origin_lps()[1] == Approx(20.5));
  CHECK(s.origin_lps()[2] == Approx(30.0));
  Volume iso = resample_to_spacing(v, {1.0, 0.0, 2.0});
  CHECK(iso.depth() == 8);
  CHECK(iso.rows() == 20);
  CHECK(iso.cols() == 15);
  CHECK_THROWS_AS(resize_slices(mask, 0, 4, Interpolation::kLinear), ValueError);
  CHECK_THROWS_WITH(parse_interpolation("bilinear"), Catch::Contains("valid: nearest, linear"));
}

TEST_CASE("2.5D stacks replicate the edge slices", "[preprocess]") {
  // slice k holds the value k
  auto vol = torch::arange(5, torch::kFloat32).view({5, 1, 1}).expand({5, 3, 3}).contiguous();
  auto first = stack_slices(vol, 0, 2);
  REQUIRE(first.sizes() == torch::IntArrayRef({5, 3, 3}));
  std::vector<float> expect0{0, 0, 0, 1, 2};
  for (int c = 0; c < 5; ++c) CHECK(first[c][1][1].item<float>() == expect0[c]);
  auto last = stack_slices(vol, 4, 1);
  std::vector<float> expect4{3, 4, 4};
  for (int c = 0; c < 3; ++c) CHECK(last[c][0][0].item<float>() == expect4[c]);
  auto stepped = stack_slices(vol, 2, 1, 2);
  CHECK(stepped[0][0][0].item<float>() == 0);
  CHECK(stepped[2][0][0].item<float>() == 4);
  // Two channels: channel-major order.
  auto two = torch::stack({vol, vol + 10}, 0);
  auto s = stack_slices(two, 1, 1);
  REQUIRE(s.size(0) == 6);
  std::vector<float> expect2{0, 1, 2, 10, 11, 12};
  for (int c = 0; c < 6; ++c) CHECK(s[c][0][0].item<float>() == expect2[c]);
  CHECK_THROWS_AS(stack_slices(vol, 5, 1), ValueError);
}

TEST_CASE("slice selection and jitter", "[preprocess]") {
  CHECK(select_slices(4, {}) == std::vector<int64_t>{0, 1, 2, 3});
  SliceSelectionOptions mid{SliceSelectionMode::kMiddle, 3};
  CHECK(select_slices(10, mid) == std::vector<int64_t>{3, 4, 5});
  CHECK(select_slices(2, mid) == std::vector<int64_t>{0, 1});
  SliceSelectionOptions q{SliceSelectionMode::kQuality, 0};
  CHECK(select_slices(10, q, {7, 2, 2}) == std::vector<int64_t>{2, 7});
  CHECK_THROWS_AS(select_slices(10, q, {10}), ValueError);
  CHECK_THROWS_AS(select_slices(10, SliceSelectionOptions{SliceSelectionMode::kMiddle, 0}), ValueError);
  std::mt19937_64 a(5), b(5);
  std::vector<int64_t> ja, jb;
  for (int i = 0; i < 50; ++i) {
    ja.push_back(jitter_slice(5, 10, 2, a));
    jb.push_back(jitter_slice(5, 10, 2, b));
  }
  CHECK(ja == jb);
  CHECK(*std::min_element(ja.begin(), ja.end()) == 3);
  CHECK(*std::max_element(ja.begin(), ja.end()) == 7);
  std::mt19937_64 c(1);
  for (int i = 0; i < 20; ++i) {
    const auto j = jitter_slice(0, 10, 3, c);
    CHECK(j >= 0);
    CHECK(j <= 3);
  }
  CHECK(jitter_slice(4, 10, 0, c) == 4);
}

TEST_CASE("ball structuring elements in mm on anisotropic voxels", "[preprocess]") {
  CHECK(ball_offsets({1, 1, 1}, 0).size() == 1);
  CHECK(ball_offsets({1, 1, 1}, 1).size() == 7);     // centre + 6 faces
  CHECK(ball_offsets({1, 1, 1}, 1.5).size() == 19);  // + 12 edges (sqrt 2), corners are sqrt 3
  CHECK(ball_offsets({5, 1, 1}, 2).size() == 13);    // one slice: the 2D disc of radius 2
  CHECK(ball_offsets({2, 1, 1}, 2).size() == 15);    // disc of 13 + one voxel above and below
  CHECK_THROWS_AS(ball_offsets({1, 1, 1}, -1), ValueError);
}

TEST_CASE("erosion, dilation, components, hole filling, geodesic dilation", "[preprocess]") {
  const Vec3 iso{1, 1, 1};
  auto cube = torch::zeros({9, 9, 9}, torch::kUInt8);
  cube.slice(0, 2, 7).slice(1, 2, 7).slice(2, 2, 7).fill_(1);  // 5x5x5
  CHECK(erode(cube, iso, 1).sum().item<int64_t>() == 27);     // 3x3x3 interior
  auto dot = torch::zeros({9, 9, 9}, torch::kUInt8);
  dot[4][4][4] = 1;
  CHECK(dilate(dot, iso, 1).sum().item<int64_t>() == 7);
  CHECK(dilate(dot, iso, 1.5).sum().item<int64_t>() == 19);
  // The volume's faces do not erode: a full volume stays full.
  CHECK(erode(torch::ones({3, 4, 5}, torch::kUInt8), iso, 1).sum().item<int64_t>() == 60);
  // Opening removes a thin bridge between two blocks; closing fills a one-voxel gap.
  auto two = torch::zeros({5, 20, 20}, torch::kUInt8);
  two.slice(1, 2, 9).slice(2, 2, 9).fill_(1);
  two.slice(1, 11, 18).slice(2, 2, 9).fill_(1);
  CHECK(label_components(two).count() == 2);
  two.slice(1, 9, 11).slice(2, 5, 6).fill_(1);  // bridge 1 voxel wide
  CHECK(label_components(two).count() == 1);
  CHECK(label_components(open(two, iso, 1.5)).count() == 2);
  // Diagonal neighbours are not 6-connected; sizes are per label.
  auto diag = torch::zeros({2, 3, 3}, torch::kUInt8);
  diag[0][0][0] = 1;
  diag[0][1][1] = 1;
  diag[1][1][1] = 1;
  auto comps = label_components(diag);
  REQUIRE(comps.count() == 2);
  CHECK(comps.sizes[1] + comps.sizes[2] == 3);
  CHECK(largest_component(diag).sum().item<int64_t>() == 2);
  // A ring in one slice: its hole is filled; an open C shape is not.
  auto ring = torch::zeros({1, 7, 7}, torch::kUInt8);
  ring[0].slice(0, 1, 6).slice(1, 1, 6).fill_(1);
  ring[0].slice(0, 2, 5).slice(1, 2, 5).fill_(0);
  CHECK(fill_holes_2d(ring).sum().item<int64_t>() == 25);
  ring[0][3][1] = 0;  // opened to the outside through the left side
  CHECK(fill_holes_2d(ring).sum().item<int64_t>() == 15);
  // Geodesic dilation never leaves the domain and grows one voxel per step.
  auto domain = torch::zeros({1, 1, 10}, torch::kUInt8);
  domain.slice(2, 0, 6).fill_(1);
  auto seed = torch::zeros({1, 1, 10}, torch::kUInt8);
  seed[0][0][0] = 1;
  CHECK(geodesic_dilate(seed, domain, iso, 3).sum().item<int64_t>() == 4);
  CHECK(geodesic_dilate(seed, domain, iso, 20).sum().item<int64_t>() == 6);
  CHECK(mask_volume_ml(cube, {2, 2, 2}) == Approx(125 * 8 / 1000.0));
  CHECK(dice(cube, cube) == 1.0);
  CHECK(dice(cube, erode(cube, iso, 1)) == Approx(2.0 * 27 / (125 + 27)));
}
