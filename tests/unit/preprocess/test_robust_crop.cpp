// Robust (percentile) normalization, the raw channel for MR, centre crops with their geometry,
// the random_crop transform, intensity augmentations restricted to the mask, and their YAML keys.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <chrono>
#include <set>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/preprocess/config.hpp"
#include "tomograd/preprocess/intensity.hpp"
#include "tomograd/preprocess/phantom.hpp"
#include "tomograd/preprocess/preprocess.hpp"
#include "tomograd/preprocess/resample.hpp"
#include "tomograd/preprocess/transform.hpp"

using namespace tomograd;
using namespace tomograd::preprocess;

namespace {

/// No reorientation, brain extraction, resizing or normalization: only the steps under test.
PreprocessOptions bare_options() {
  PreprocessOptions o;
  o.reorient = "none";
  o.brain_extraction = false;
  o.windows = {"raw"};
  o.height = 0;
  o.width = 0;
  o.normalize.method = NormalizeMethod::kNone;
  return o;
}

/// [D,rows,cols] with voxel (k, j, i) = 100 + 1000 k + cols * j + i: every value names its voxel.
torch::Tensor index_volume(int64_t depth, int64_t rows, int64_t cols) {
  return (torch::arange(depth * rows * cols, torch::kFloat32).reshape({depth, rows, cols}) % (rows * cols) + 100 +
          1000 * torch::arange(depth, torch::kFloat32).view({-1, 1, 1}))
      .contiguous();
}

void apply_once(const TransformConfig& config, AugmentSample& s, uint64_t seed) {
  auto rng = sample_rng(seed, 0);
  make_transform(config)->apply(s, rng);
}

}  // namespace

TEST_CASE("percentiles_of interpolates linearly like numpy.percentile", "[preprocess]") {
  // By hand, with numpy.percentile's default ("linear") rule: position p/100 * (n - 1) in the
  // sorted values {1, 2, 3, 4}, e.g. 10 -> 0.3 -> 1 + 0.3 * (2 - 1) = 1.3; 99.5 -> 2.985 -> 3.985.
  // (numpy is not installed here, so these were not run through it.)
  auto v = torch::tensor({3.0f, 1.0f, 4.0f, 2.0f});
  auto q = percentiles_of(v, {0, 10, 50, 100, 0.5, 99.5});
  std::vector<double> expect{1.0, 1.3, 2.5, 4.0, 1.015, 3.985};
  REQUIRE(q.size() == expect.size());
  for (std::size_t i = 0; i < expect.size(); ++i) CHECK(q[i] == Approx(expect[i]));
  // Non-finite values are ignored; integer tensors work; one value is every percentile.
  auto with_nan = torch::tensor({3.0f, NAN, 1.0f, INFINITY, 4.0f, 2.0f});
  CHECK(percentiles_of(with_nan, {10})[0] == Approx(1.3));
  CHECK(percentiles_of(torch::arange(101), {37.5})[0] == Approx(37.5));
  CHECK(percentiles_of(torch::tensor({7.0f}), {0, 50, 100}) == std::vector<double>{7, 7, 7});
  CHECK_THROWS_AS(percentiles_of(torch::tensor({NAN}), {50}), ValueError);
  CHECK_THROWS_AS(percentiles_of(v, {101}), ValueError);
}

TEST_CASE("percentile normalization clips and scales to [0,1], inside the mask", "[preprocess]") {
  auto x = torch::tensor({10.0f, 1.0f, 2.0f, 3.0f, 4.0f, 100.0f}).reshape({1, 2, 3});
  auto mask = torch::tensor({0, 1, 1, 1, 1, 0}, torch::kUInt8).reshape({2, 3});
  NormalizeOptions o;
  o.method = NormalizeMethod::kPercentile;
  o.percentiles = {10, 90};
  o.outside_value = -1;
  // Inside the mask {1, 2, 3, 4}: 10th percentile 1.3, 90th 3.7 -> (clamp(x) - 1.3) / 2.4.
  auto m = normalize(x, o, mask).reshape(-1);
  CHECK(m[0].item<float>() == -1.0f);
  CHECK(m[1].item<float>() == 0.0f);
  CHECK(m[2].item<float>() == Approx(0.7 / 2.4));
  CHECK(m[3].item<float>() == Approx(1.7 / 2.4));
  CHECK(m[4].item<float>() == 1.0f);
  CHECK(m[5].item<float>() == -1.0f);
  // All six values {1, 2, 3, 4, 10, 100}: 10th percentile at position 0.5 -> 1.5, 90th at 4.5 ->
  // 10 + 0.5 * 90 = 55.
  o.within_mask = false;
  auto a = normalize(x, o, mask).reshape(-1);
  CHECK(a[0].item<float>() == Approx((10 - 1.5) / 53.5));
  CHECK(a[1].item<float>() == 0.0f);
  CHECK(a[5].item<float>() == 1.0f);
  // Channels are independent: a scaled copy gives the same result.
  auto two = normalize(torch::cat({x, x * 7 + 3}, 0), o);
  CHECK(torch::allclose(two[0], two[1], 1e-5, 1e-6));
  // A constant channel: high - low is floored by eps, everything becomes 0.
  CHECK(normalize(torch::full({1, 2, 2}, 5.0f), o).abs().max().item<float>() == 0.0f);
  CHECK(parse_normalize_method("percentile") == NormalizeMethod::kPercentile);
  CHECK(to_string(NormalizeMethod::kPercentile) == "percentile");
  for (const auto& bad : std::vector<std::vector<double>>{{50, 50}, {-1, 50}, {1, 101}, {60, 40}, {1, 2, 3}, {}}) {
    o.percentiles = bad;
    CHECK_THROWS_WITH(o.validate(), Catch::Contains("normalize.percentiles"));
  }
}

TEST_CASE("percentile normalization is exact on a [1,26,256,256] volume", "[preprocess]") {
  const int64_t n = 26 * 256 * 256;  // 1703936 distinct integers, exact in float32
  torch::manual_seed(3);
  auto x = torch::randperm(n, torch::kFloat32).reshape({1, 26, 256, 256});
  NormalizeOptions o;  // default percentiles 0.5 and 99.5, no mask
  o.method = NormalizeMethod::kPercentile;
  // The sorted values are 0..n-1, so a percentile is its position: 0.005 * (n - 1) = 8519.675
  // and 0.995 * (n - 1) = 1695415.325.
  const double lo = 8519.675, hi = 1695415.325;
  auto q = percentiles_of(x, o.percentiles);
  CHECK(q[0] == Approx(lo).epsilon(1e-12));
  CHECK(q[1] == Approx(hi).epsilon(1e-12));
  const auto start = std::chrono::steady_clock::now();
  auto r = normalize(x, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  INFO("percentile normalization of 1.7 M voxels: " << seconds << " s");
  CHECK(seconds < 5.0);  // ~0.13 s on the 2-core development machine; generous for loaded CI
  CHECK(r.min().item<float>() == 0.0f);
  CHECK(r.max().item<float>() == 1.0f);
  auto flat_x = x.reshape(-1), flat_r = r.reshape(-1);
  const int64_t i = torch::nonzero(flat_x == 852000.0f).item<int64_t>();
  CHECK(flat_r[i].item<float>() == Approx((852000.0 - lo) / (hi - lo)).epsilon(1e-6));
  // 0.5% of the voxels are clipped on each side: 0..8519 to 0 and 1695416..n-1 to 1 (give or
  // take the float32 rounding of the values just below hi).
  CHECK((flat_r == 0.0f).sum().item<int64_t>() == 8520);
  const int64_t ones = (flat_r == 1.0f).sum().item<int64_t>();
  CHECK(ones >= n - 1695416);
  CHECK(ones <= n - 1695416 + 2);
}

TEST_CASE("the raw window keeps physical values (MR) and mixes with windows", "[preprocess]") {
  auto values = index_volume(2, 4, 5);
  Volume mr(values, {3.0, 1.0, 1.0});
  PreprocessOptions o = bare_options();
  o.windows = {"raw", "brain"};
  PreprocessedStudy s = preprocess_volume(mr, o);
  REQUIRE(s.data.sizes() == torch::IntArrayRef({2, 2, 4, 5}));
  CHECK(torch::equal(s.data[0], values));
  CHECK(torch::equal(s.data[1], torch::ones({2, 4, 5})));  // >= 100 HU is 1 in the brain window
  CHECK(s.channels == std::vector<std::string>{"raw", "brain"});
  o.validate();
  CHECK(o.to_json()["windows"][0] == "raw");
  CHECK(o.to_json()["windows"][1] == nlohmann::json::array({40.0, 80.0}));
  // MR recipe: raw + percentile normalization to [0,1].
  o.windows = {"raw"};
  o.normalize.method = NormalizeMethod::kPercentile;
  o.normalize.percentiles = {0, 100};
  PreprocessedStudy n = preprocess_volume(mr, o);
  CHECK(n.data.min().item<float>() == 0.0f);
  CHECK(n.data.max().item<float>() == 1.0f);
  // 100 + 1000 k + 5 j + i over k < 2, j < 4, i < 5: min 100, max 1119.
  CHECK(n.data[0][1][0][0].item<float>() == Approx((1100.0 - 100.0) / 1019.0));
  o.windows = {"raw", "RAW"};  // names are case-sensitive: RAW is not a preset
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("preprocess.windows"));
}

TEST_CASE("crop_slices crops and pads, centre offsets round down", "[preprocess]") {
  auto x = torch::arange(20, torch::kFloat32).reshape({4, 5});  // x[j][i] = 5 j + i
  auto c = crop_slices(x, 1, 2, 2, 3);
  CHECK(torch::equal(c, torch::tensor({7.0f, 8.0f, 9.0f, 12.0f, 13.0f, 14.0f}).reshape({2, 3})));
  // A window hanging over the top-left and right edges: filled with the fill value.
  auto p = crop_slices(x, -1, 3, 2, 3, -5.0);
  CHECK(torch::equal(p, torch::tensor({-5.0f, -5.0f, -5.0f, 3.0f, 4.0f, -5.0f}).reshape({2, 3})));
  auto u8 = crop_slices(torch::ones({2, 3, 3}, torch::kUInt8), 1, 1, 3, 3);
  CHECK(u8.scalar_type() == torch::kUInt8);
  CHECK(u8.sum().item<int64_t>() == 2 * 4);
  CHECK(center_crop_offsets(7, 8, 4, 4) == std::pair<int64_t, int64_t>{1, 2});
  CHECK(center_crop_offsets(5, 6, 8, 6) == std::pair<int64_t, int64_t>{-2, 0});  // floor(-1.5)
  CHECK(center_crop_offsets(4, 4, 6, 6) == std::pair<int64_t, int64_t>{-1, -1});
  CHECK_THROWS_AS(crop_slices(x, 0, 0, 0, 2), ValueError);
}

TEST_CASE("crop_in_plane keeps every voxel at its LPS position", "[preprocess]") {
  // Columns point posterior, rows left, slices inferior (right-handed); spacing (z,y,x) 3, 2, 0.5.
  Mat3 d{{{0, 1, 0}, {1, 0, 0}, {0, 0, -1}}};
  Volume v(index_volume(2, 10, 12), {3.0, 2.0, 0.5}, {10, 20, 30}, d);
  Volume c = crop_in_plane(v, 6, 4);  // top (10 - 6) / 2 = 2, left (12 - 4) / 2 = 4
  REQUIRE(c.data().sizes() == torch::IntArrayRef({2, 6, 4}));
  CHECK(c.spacing_mm() == v.spacing_mm());
  // Origin: + left * 0.5 mm along the column direction (P) + top * 2 mm along the row one (L).
  CHECK(c.origin_lps()[0] == Approx(10 + 2 * 2.0));
  CHECK(c.origin_lps()[1] == Approx(20 + 4 * 0.5));
  CHECK(c.origin_lps()[2] == Approx(30));
  for (int64_t j : {0, 5}) {
    for (int64_t i : {0, 3}) {
      CHECK(c.data()[1][j][i].item<float>() == v.data()[1][j + 2][i + 4].item<float>());
      const Vec3 a = c.index_to_lps(1, j, i), b = v.index_to_lps(1, j + 2, i + 4);
      for (int r = 0; r < 3; ++r) CHECK(a[r] == Approx(b[r]));
    }
  }
}

TEST_CASE("preprocess crop: after resizing, before normalization, geometry updated", "[preprocess]") {
  Volume v(index_volume(2, 8, 8), {5.0, 1.0, 1.0});
  PreprocessOptions o = bare_options();
  o.crop_height = 4;
  o.crop_width = 6;
  PreprocessedStudy s = preprocess_volume(v, o);
  REQUIRE(s.data.sizes() == torch::IntArrayRef({1, 2, 4, 6}));
  CHECK(s.data[0][0][0][0].item<float>() == 100 + 8 * 2 + 1);  // top 2, left 1
  CHECK(s.origin_lps[0] == Approx(1.0));
  CHECK(s.origin_lps[1] == Approx(2.0));
  // Larger than the image: zero padding (top = left = -1).
  o.crop_height = 10;
  o.crop_width = 10;
  PreprocessedStudy pad = preprocess_volume(v, o);
  REQUIRE(pad.data.sizes() == torch::IntArrayRef({1, 2, 10, 10}));
  CHECK(pad.data[0][0][0].abs().max().item<float>() == 0.0f);
  CHECK(pad.data[0][0][1][1].item<float>() == 100.0f);
  CHECK(pad.origin_lps[0] == Approx(-1.0));
  // Resize 8 -> 16 (spacing 0.5, first centre at -0.25), then crop 8: offset 4 * 0.5 = 2 mm.
  o.height = 16;
  o.width = 16;
  o.crop_height = 8;
  o.crop_width = 8;
  PreprocessedStudy rc = preprocess_volume(v, o);
  REQUIRE(rc.data.sizes() == torch::IntArrayRef({1, 2, 8, 8}));
  CHECK(rc.spacing_mm[1] == Approx(0.5));
  CHECK(rc.origin_lps[0] == Approx(1.75));
  CHECK(rc.origin_lps[1] == Approx(1.75));
  // Normalization sees the cropped field of view only: its first and last voxels (values grow
  // with the indices) are the minimum and maximum, though the full image has smaller and larger.
  o.normalize.method = NormalizeMethod::kMinMax;
  PreprocessedStudy n = preprocess_volume(v, o);
  CHECK(n.data[0][0][0][0].item<float>() == 0.0f);
  CHECK(n.data[0][1][7][7].item<float>() == 1.0f);
  CHECK(n.data[0][0][0][1].item<float>() > 0.0f);
  o.crop_width = 0;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("preprocess.crop"));
  o.crop_width = -3;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("preprocess.crop"));
}

TEST_CASE("preprocess crop moves the brain mask with the data", "[preprocess]") {
  HeadPhantom p = make_head_phantom({});
  PreprocessOptions o;
  o.height = 32;
  o.width = 32;
  PreprocessedStudy full = preprocess_volume(p.ct, o);
  o.crop_height = 24;
  o.crop_width = 20;
  PreprocessedStudy s = preprocess_volume(p.ct, o);
  REQUIRE(s.data.sizes() == torch::IntArrayRef({3, 16, 24, 20}));
  REQUIRE(s.mask.sizes() == torch::IntArrayRef({16, 24, 20}));
  CHECK(torch::equal(s.mask, full.mask.slice(1, 4, 28).slice(2, 6, 26)));
  // z-scored inside the (cropped) brain, 0 outside.
  auto in = s.mask.ne(0);
  CHECK(s.data[0].masked_select(in).mean().item<double>() == Approx(0).margin(1e-3));
  CHECK(s.data[0].masked_select(in.logical_not()).abs().max().item<float>() == 0.0f);
  // top (32 - 24) / 2 = 4 rows, left (32 - 20) / 2 = 6 columns.
  const Vec3 expect = Volume(torch::zeros({1, 1, 1}), full.spacing_mm, full.origin_lps, full.direction).index_to_lps(0, 4, 6);
  for (int r = 0; r < 3; ++r) CHECK(s.origin_lps[r] == Approx(expect[r]));
}

TEST_CASE("to_json: new keys only when they change the output", "[preprocess]") {
  PreprocessOptions o;
  const auto base = o.to_json();
  CHECK_FALSE(base.contains("crop"));
  CHECK_FALSE(base["normalize"].contains("percentiles"));
  o.normalize.percentiles = {1, 99};  // unused by zscore: same cache key
  CHECK(o.to_json() == base);
  o.normalize.method = NormalizeMethod::kPercentile;
  CHECK(o.to_json()["normalize"]["percentiles"] == nlohmann::json::array({1.0, 99.0}));
  o.crop_height = 200;
  o.crop_width = 180;
  CHECK(o.to_json()["crop"] == nlohmann::json{{"height", 200}, {"width", 180}});
  PreprocessOptions other = o;
  other.crop_width = 190;
  CHECK(other.to_json().dump() != o.to_json().dump());
}

TEST_CASE("random_crop: a window of the input, resized back, mask moved with it", "[preprocess]") {
  auto img = torch::arange(64, torch::kFloat32).reshape({1, 8, 8});
  auto mask = torch::arange(64, torch::kInt32).reshape({8, 8});  // same values: tracks the crop
  RandomCropOptions half{1.0, {0.5, 0.5}, false};
  std::set<int64_t> tops, lefts;
  for (uint64_t seed = 0; seed < 60; ++seed) {
    AugmentSample s{img.clone(), mask.clone()};
    apply_once(half, s, seed);
    REQUIRE(s.image.sizes() == torch::IntArrayRef({1, 4, 4}));
    REQUIRE(s.mask.sizes() == torch::IntArrayRef({4, 4}));
    CHECK(s.mask.scalar_type() == torch::kInt32);
    const auto first = static_cast<int64_t>(s.image[0][0][0].item<float>());
    const int64_t top = first / 8, left = first % 8;
    tops.insert(top);
    lefts.insert(left);
    CHECK(torch::equal(s.image, img.slice(1, top, top + 4).slice(2, left, left + 4)));
    CHECK(torch::equal(s.mask, mask.slice(0, top, top + 4).slice(1, left, left + 4)));
  }
  // Every position 0..4 is drawn.
  CHECK(tops == std::set<int64_t>{0, 1, 2, 3, 4});
  CHECK(lefts == std::set<int64_t>{0, 1, 2, 3, 4});
  // scale 1 is the identity; resize_back gives the input size with a binary mask.
  AugmentSample same{img.clone(), mask.clone()};
  apply_once(RandomCropOptions{1.0, {1.0, 1.0}, true}, same, 1);
  CHECK(torch::equal(same.image, img));
  auto binary = (torch::rand({8, 8}) > 0.5).to(torch::kUInt8);
  AugmentSample back{img.clone(), binary};
  apply_once(RandomCropOptions{}, back, 2);
  CHECK(back.image.sizes() == torch::IntArrayRef({1, 8, 8}));
  CHECK(back.mask.sizes() == torch::IntArrayRef({8, 8}));
  CHECK(torch::logical_or(back.mask == 0, back.mask == 1).all().item<bool>());
  // Registered last: the indices of the older transforms do not move.
  CHECK(transform_names().back() == "random_crop");
  CHECK(TransformConfig(RandomCropOptions{}).index() == 9);
  CHECK(TransformConfig(ElasticOptions{}).index() == 8);
  CHECK(transform_to_json(RandomCropOptions{}) ==
        nlohmann::json{{"name", "random_crop"}, {"p", 1.0}, {"scale", {0.8, 1.0}}, {"resize_back", true}});
  CHECK_THROWS_WITH(validate_transform(RandomCropOptions{1.0, {0.0, 0.5}, true}, "t"), Catch::Contains("scale"));
  CHECK_THROWS_WITH(validate_transform(RandomCropOptions{1.0, {0.5, 1.5}, true}, "t"), Catch::Contains("scale"));
}

TEST_CASE("inside_mask_only: intensity augmentations leave the background alone", "[preprocess]") {
  auto img = (torch::arange(48, torch::kFloat32).reshape({3, 4, 4}) / 47.0).contiguous();
  auto mask = torch::zeros({4, 4}, torch::kUInt8);
  mask.slice(0, 1, 3).slice(1, 0, 3).fill_(1);
  const auto in = mask.ne(0).unsqueeze(0).expand({3, 4, 4}), out = in.logical_not();
  GammaOptions g{1.0, {2.0, 2.0}, true};
  BrightnessContrastOptions bc{1.0, {0.1, 0.1}, {1.5, 1.5}, true};
  NoiseOptions nz{1.0, {0.1, 0.1}, true};
  GammaOptions g_off = g;
  BrightnessContrastOptions bc_off = bc;
  NoiseOptions nz_off = nz;
  g_off.inside_mask_only = bc_off.inside_mask_only = nz_off.inside_mask_only = false;
  const std::vector<std::pair<TransformConfig, TransformConfig>> cases{{g, g_off}, {bc, bc_off}, {nz, nz_off}};
  for (const auto& [on, off] : cases) {
    INFO(transform_name(on));
    AugmentSample a{img.clone(), mask.clone()}, b{img.clone(), mask.clone()};
    apply_once(on, a, 5);
    apply_once(off, b, 5);  // same seed: same parameters and noise
    CHECK(torch::equal(a.image.masked_select(out), img.masked_select(out)));
    CHECK(torch::equal(a.image.masked_select(in), b.image.masked_select(in)));
    CHECK_FALSE(torch::allclose(b.image.masked_select(out), img.masked_select(out)));
    // No mask: the flag changes nothing.
    AugmentSample c{img.clone(), {}};
    apply_once(on, c, 5);
    CHECK(torch::equal(c.image, b.image));
    // [K,H,W] masks: a voxel is inside when any layer is nonzero.
    auto layers = torch::stack({mask, torch::zeros_like(mask)}, 0);
    AugmentSample d{img.clone(), layers};
    apply_once(on, d, 5);
    CHECK(torch::equal(d.image, a.image));
    AugmentSample bad{img.clone(), torch::ones({3, 3}, torch::kUInt8)};
    CHECK_THROWS_WITH(apply_once(on, bad, 5), Catch::Contains("inside_mask_only"));
  }
  CHECK(transform_to_json(g)["inside_mask_only"] == true);
}

TEST_CASE("config: raw, crop, percentiles, random_crop and inside_mask_only decode", "[preprocess]") {
  test::TempDir tmp;
  const std::string text = R"(
preprocess:
  reorient: none
  windows: [raw]
  brain_extraction: {enabled: false}
  resize: {height: 224, width: 224}
  crop: {height: 200, width: 180}
  normalize: {method: percentile, percentiles: [1, 99], within_mask: false}
augment:
  policies:
    - label: "*"
      transforms:
        - {name: random_crop, p: 0.5, scale: [0.7, 0.9], resize_back: false}
        - {name: gamma, gamma: [0.9, 1.1], inside_mask_only: true}
        - {name: brightness_contrast, inside_mask_only: true}
        - {name: noise, std: [0, 0.02], inside_mask_only: true}
)";
  write_file_atomic(tmp / "mr.yaml", text);
  PreprocessConfig c = load_preprocess_config(tmp / "mr.yaml");
  CHECK(c.preprocess.windows == std::vector<std::string>{"raw"});
  CHECK(c.preprocess.crop_height == 200);
  CHECK(c.preprocess.crop_width == 180);
  CHECK(c.preprocess.normalize.method == NormalizeMethod::kPercentile);
  CHECK(c.preprocess.normalize.percentiles == std::vector<double>{1, 99});
  const auto& t = c.augment.policies.at(0).transforms;
  REQUIRE(t.size() == 4);
  const auto& rc = std::get<RandomCropOptions>(t[0]);
  CHECK(rc.p == 0.5);
  CHECK(rc.scale.low == 0.7);
  CHECK(rc.scale.high == 0.9);
  CHECK_FALSE(rc.resize_back);
  CHECK(std::get<GammaOptions>(t[1]).inside_mask_only);
  CHECK(std::get<BrightnessContrastOptions>(t[2]).inside_mask_only);
  CHECK(std::get<NoiseOptions>(t[3]).inside_mask_only);

  auto fails = [&](const std::string& yaml, const std::string& message) {
    write_file_atomic(tmp / "bad.yaml", yaml, Overwrite::kAllow);
    CHECK_THROWS_WITH(load_preprocess_config(tmp / "bad.yaml"), Catch::Contains(message));
  };
  fails("preprocess: {normalize: {method: percentile, percentiles: [99, 1]}}", "normalize.percentiles");
  fails("preprocess: {normalize: {percentiles: [1, 50, 99]}}", "normalize.percentiles");
  fails("preprocess: {normalize: {method: robust}}", "percentile");
  fails("preprocess: {crop: {height: 10}}", "preprocess.crop: give both");
  fails("preprocess: {crop: {heigth: 10}}", "unknown key 'preprocess.crop.heigth'");
  fails("augment: {policies: [{label: a, transforms: [{name: random_crop, scale: [0, 1]}]}]}", "scale must be");
  fails("augment: {policies: [{label: a, transforms: [{name: random_crop, size: 3}]}]}",
        "unknown key 'augment.policies[0].transforms[0].size'");
  fails("augment: {policies: [{label: a, transforms: [{name: blur, inside_mask_only: true}]}]}",
        "unknown key 'augment.policies[0].transforms[0].inside_mask_only'");
}

TEST_CASE("configs/preprocess_head_ct.yaml decodes with the documented defaults", "[preprocess]") {
  PreprocessConfig c = load_preprocess_config(std::filesystem::path(TOMOGRAD_SOURCE_DIR) / "configs" /
                                              "preprocess_head_ct.yaml");
  const PreprocessOptions defaults;
  CHECK(c.preprocess.crop_height == defaults.crop_height);
  CHECK(c.preprocess.crop_width == defaults.crop_width);
  CHECK(c.preprocess.normalize.percentiles == defaults.normalize.percentiles);
  CHECK(c.preprocess.to_json() == defaults.to_json());
}
