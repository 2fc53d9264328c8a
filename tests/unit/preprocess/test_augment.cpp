// Augmentations, policies, determinism per seed, thread safety, slice quality, config decoding,
// and the full preprocessing of a study.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <thread>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/preprocess/config.hpp"
#include "tomograd/preprocess/phantom.hpp"
#include "tomograd/preprocess/policy.hpp"
#include "tomograd/preprocess/preprocess.hpp"
#include "tomograd/preprocess/quality.hpp"

using namespace tomograd;
using namespace tomograd::preprocess;

namespace {

torch::Tensor test_image(int64_t c = 3, int64_t h = 48, int64_t w = 40) {
  auto y = torch::linspace(0, 1, h).view({1, -1, 1});
  auto x = torch::linspace(0, 1, w).view({1, 1, -1});
  auto img = torch::sin(6 * x + 3 * y) * 0.5 + 0.5 + torch::arange(c).view({-1, 1, 1}) * 0.1;
  return img.expand({c, h, w}).to(torch::kFloat32).contiguous();
}

torch::Tensor test_mask(int64_t h = 48, int64_t w = 40) {
  auto m = torch::zeros({h, w}, torch::kUInt8);
  m.slice(0, 10, 30).slice(1, 8, 25).fill_(1);
  return m;
}

/// Every transform, each applied with probability 1.
AugmentConfig everything() {
  PolicyRule all;
  all.label = "*";
  all.p = 1.0;
  all.slice_jitter = 2;
  all.transforms = {FlipOptions{1.0}, AffineOptions{}, GammaOptions{}, BrightnessContrastOptions{}, NoiseOptions{},
                    BlurOptions{}, SharpenOptions{}, ClaheOptions{}, ElasticOptions{}, RandomCropOptions{}};
  AugmentConfig c;
  c.policies = {all};
  return c;
}

AugmentSample run(const AugmentationPolicy& policy, uint64_t seed, uint64_t index) {
  auto rng = sample_rng(seed, index);
  AugmentSample s{test_image(), test_mask()};
  policy.apply(s, "1", rng);
  return s;
}

}  // namespace

TEST_CASE("intensity augmentations: hand-checked values", "[preprocess]") {
  auto img = torch::tensor({0.0f, 0.25f, 1.0f}).view({1, 1, 3});
  auto g = adjust_gamma(img, 2.0).reshape(-1);
  CHECK(g[1].item<float>() == Approx(0.0625));
  CHECK(g[2].item<float>() == Approx(1.0));
  CHECK(torch::allclose(adjust_gamma(img, 1.0), img));
  // Gamma works within each channel's [min, max]: [10, 12.5, 20] -> [10, 10.625, 20].
  auto g2 = adjust_gamma(img * 10 + 10, 2.0).reshape(-1);
  CHECK(g2[1].item<float>() == Approx(10.625));
  auto bc = adjust_brightness_contrast(torch::tensor({0.0f, 1.0f, 2.0f, 3.0f}).view({1, 1, 4}), 0.1, 2.0).reshape(-1);
  // mean 1.5, range 3: (x - 1.5) * 2 + 1.5 + 0.3
  std::vector<float> expect{-1.2f, 0.8f, 2.8f, 4.8f};
  for (int i = 0; i < 4; ++i) CHECK(bc[i].item<float>() == Approx(expect[i]));
  auto x = test_image();
  CHECK(torch::equal(flip_horizontal(flip_horizontal(x)), x));
  CHECK(flip_horizontal(x)[0][5][0].item<float>() == x[0][5][39].item<float>());
  CHECK(torch::allclose(affine_warp(x, AffineParams{}), x, 1e-5, 1e-5));
  AffineParams shift;
  shift.translate_x_px = 1;
  CHECK(affine_warp(x, shift)[1][7][10].item<float>() == Approx(x[1][7][9].item<float>()));
  CHECK(torch::allclose(gaussian_blur(x, 0), x));
  auto c = clahe(x, 2.0, 4);
  CHECK(!torch::allclose(c, x, 1e-3, 1e-3));
  CHECK(c.min().item<float>() >= x.min().item<float>() - 1e-4);
  CHECK(c.max().item<float>() <= x.max().item<float>() + 1e-4);
  // Sharpening a constant image does nothing; a zero field displaces nothing.
  auto flat = torch::full({1, 8, 8}, 0.3f);
  CHECK(torch::allclose(sharpen(flat, 0.8, 1.0), flat));
  CHECK(torch::allclose(displace(x, torch::zeros({2, 48, 40})), x, 1e-5, 1e-5));
}

TEST_CASE("spatial augmentations keep masks binary and aligned", "[preprocess]") {
  AugmentationPolicy policy(everything());
  for (uint64_t i = 0; i < 6; ++i) {
    AugmentSample s = run(policy, 11, i);
    REQUIRE(s.mask.sizes() == torch::IntArrayRef({48, 40}));
    CHECK(s.mask.scalar_type() == torch::kUInt8);
    CHECK(torch::logical_or(s.mask == 0, s.mask == 1).all().item<bool>());
    CHECK(s.mask.sum().item<int64_t>() > 100);  // moved, not lost (original 340)
    CHECK(torch::isfinite(s.image).all().item<bool>());
  }
}

TEST_CASE("augmentation is deterministic per seed and differs between seeds", "[preprocess]") {
  AugmentationPolicy policy(everything());
  auto a = run(policy, 7, 3), b = run(policy, 7, 3);
  CHECK(torch::equal(a.image, b.image));
  CHECK(torch::equal(a.mask, b.mask));
  auto c = run(policy, 8, 3), d = run(policy, 7, 4);
  CHECK(!torch::allclose(a.image, c.image));
  CHECK(!torch::allclose(a.image, d.image));
  auto r1 = sample_rng(7, 3), r2 = sample_rng(7, 3);
  CHECK(policy.jitter(10, 20, "1", r1) == policy.jitter(10, 20, "1", r2));
}

TEST_CASE("augmenting from 4 threads gives the same outputs as sequentially", "[preprocess]") {
  AugmentationPolicy policy(everything());
  const int n = 24;
  std::vector<torch::Tensor> sequential(n), threaded(n);
  for (int i = 0; i < n; ++i) sequential[i] = run(policy, 99, i).image;
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&, t] {
      for (int i = t; i < n; i += 4) threaded[i] = run(policy, 99, i).image;
    });
  }
  for (auto& th : pool) th.join();
  for (int i = 0; i < n; ++i) CHECK(torch::equal(sequential[i], threaded[i]));
}

TEST_CASE("class-conditional policies pick the rule per label", "[preprocess]") {
  AugmentConfig c;
  PolicyRule pos{"1", 0.7, 1, {GammaOptions{1.0, {0.95, 1.05}}, BlurOptions{}}};
  PolicyRule neg{"0", 0.0, 0, {GammaOptions{}}};
  c.policies = {pos, neg};
  AugmentationPolicy policy(c);
  CHECK(policy.rule_index("1") == 0);
  CHECK(policy.rule_index("0") == 1);
  CHECK(policy.rule_index("2") == -1);
  int augmented = 0;
  for (uint64_t i = 0; i < 400; ++i) {
    auto rng = sample_rng(1, i);
    AugmentSample s{test_image(1, 16, 16), {}};
    augmented += policy.apply(s, "1", rng) ? 1 : 0;
    auto rng0 = sample_rng(1, i);
    AugmentSample n{test_image(1, 16, 16), {}};
    CHECK_FALSE(policy.apply(n, "0", rng0));
    CHECK(torch::equal(n.image, test_image(1, 16, 16)));
  }
  CHECK(augmented > 0.6 * 400);
  CHECK(augmented < 0.8 * 400);
  c.policies.push_back(PolicyRule{"*", 1.0, 0, {}});
  CHECK(AugmentationPolicy(c).rule_index("2") == 2);
  c.policies.push_back(PolicyRule{"1", 1.0, 0, {}});
  CHECK_THROWS_WITH(AugmentationPolicy(c), Catch::Contains("label '1' appears twice"));
  AugmentConfig bad;
  bad.policies = {PolicyRule{"1", 1.0, 0, {GammaOptions{1.0, {1.2, 0.8}}}}};
  CHECK_THROWS_WITH(AugmentationPolicy(bad), Catch::Contains("augment.policies[0].transforms[0] (gamma)") &&
                                                 Catch::Contains("low <= high"));
}

TEST_CASE("config: every section decodes, unknown keys name their dotted path", "[preprocess]") {
  test::TempDir tmp;
  const std::string text = R"(
preprocess:
  reorient: none
  windows: [brain, "80,200"]
  brain_extraction: {opening_radius_mm: 3, margin_mm: 1}
  resize: {height: 64, width: 48, interpolation: area}
  normalize: {method: minmax}
  quality: {min_contrast_hu: 1.5}
slices: {selection: middle, count: 8, context: 1}
augment:
  policies:
    - label: "1"
      p: 0.7
      slice_jitter: 1
      transforms:
        - {name: gamma, gamma: [0.95, 1.05]}
        - {name: blur, sigma_px: [0.3, 0.8], p: 0.5}
    - label: "0"
      p: 0.5
      transforms:
        - {name: clahe, clip_limit: [1, 2], tiles: 4}
        - {name: sharpen, amount: [0.1, 0.3]}
)";
  write_file_atomic(tmp / "c.yaml", text);
  PreprocessConfig c = load_preprocess_config(tmp / "c.yaml");
  CHECK(c.preprocess.windows.size() == 2);
  CHECK(c.preprocess.brain.opening_radius_mm == 3);
  CHECK(c.preprocess.height == 64);
  CHECK(c.preprocess.interpolation == Interpolation::kArea);
  CHECK(c.preprocess.normalize.method == NormalizeMethod::kMinMax);
  CHECK(c.slices.selection.mode == SliceSelectionMode::kMiddle);
  CHECK(c.slices.context == 1);
  REQUIRE(c.augment.policies.size() == 2);
  CHECK(c.augment.policies[0].p == 0.7);
  CHECK(transform_name(c.augment.policies[0].transforms[1]) == "blur");
  CHECK(std::get<BlurOptions>(c.augment.policies[0].transforms[1]).sigma_px.high == 0.8);
  CHECK(std::get<ClaheOptions>(c.augment.policies[1].transforms[0]).tiles == 4);
  // Overrides, and the canonical text does not depend on how a window is written.
  PreprocessConfig o = load_preprocess_config(tmp / "c.yaml", {"preprocess.windows=[\"40,80\", subdural]"});
  CHECK(o.preprocess.to_json() == c.preprocess.to_json());

  auto fails = [&](const std::string& yaml, const std::string& message) {
    write_file_atomic(tmp / "bad.yaml", yaml);
    CHECK_THROWS_WITH(load_preprocess_config(tmp / "bad.yaml"), Catch::Contains(message));
  };
  fails("preprocess: {resize: {heigth: 3}}", "unknown key 'preprocess.resize.heigth'");
  fails("augment: {policies: [{label: a, transforms: [{name: blur, sigma: [1, 2]}]}]}",
        "unknown key 'augment.policies[0].transforms[0].sigma'");
  fails("augment: {policies: [{label: a, transforms: [{name: blurr}]}]}", "unknown transform 'blurr' (valid: flip, affine");
  fails("augment: {policies: [{label: a, p: 2}]}", "p must be in [0, 1]");
  fails("augment: {policies: [{p: 1}]}", "missing required key 'augment.policies[0].label'");
  fails("augment: {policies: [{label: a, transforms: [{name: gamma, gamma: 1.1}]}]}", "expected a list");
  fails("preprocess: {windows: [brian]}", "invalid window 'brian'");
  fails("preprocess: {normalize: {method: z}}", "preprocess.normalize.method");
  fails("slices: {selection: middle}", "slices.count must be > 0");
  fails("train: {lr: 1}", "unknown key 'train'");
}

TEST_CASE("slice quality drops thin and flat slices but keeps asymmetric ones", "[preprocess]") {
  HeadPhantomOptions po;
  po.depth = 14;
  po.spacing_mm = {8.0, 3.6, 3.6};
  HeadPhantom normal = make_head_phantom(po);
  po.hemorrhage = true;
  HeadPhantom bleed = make_head_phantom(po);
  SliceQualityOptions q;
  auto a = assess_slice_quality(normal.ct, normal.brain, q);
  auto b = assess_slice_quality(bleed.ct, bleed.brain, q);
  REQUIRE(a.slices.size() == 14);
  const int64_t mid = 7;
  CHECK(a.slices[mid].brain_fraction > 0.9);
  CHECK(a.slices[mid].contrast_hu > 3);
  INFO("asymmetry without/with bleed " << a.slices[mid].asymmetry << " " << b.slices[mid].asymmetry);
  CHECK(a.slices[mid].asymmetry < 0.04);   // symmetric phantom: noise, skull holes, pixel grid
  CHECK(b.slices[mid].asymmetry > 0.05);   // the bleed on one side
  // The first slice has (almost) no brain: dropped with a reason.
  CHECK_FALSE(a.slices[0].kept);
  CHECK_THAT(a.slices[0].reason, Catch::Contains("brain"));
  // Strict contrast threshold: the normal phantom loses mid slices, the bleeding one keeps them.
  q.min_contrast_hu = 1000;
  auto strict_a = assess_slice_quality(normal.ct, normal.brain, q);
  auto strict_b = assess_slice_quality(bleed.ct, bleed.brain, q);
  CHECK_FALSE(strict_a.slices[mid].kept);
  CHECK(strict_b.slices[mid].kept);
  CHECK(strict_b.slices[mid].reason == "asymmetric");
  CHECK_THAT(strict_b.summary(), Catch::Contains("kept for asymmetry"));
  // A flat brain (no contrast) is dropped for that reason.
  Volume flat = normal.ct;
  flat.set_data(torch::where(normal.brain.ne(0), torch::full({}, 30.0f), normal.ct.data()));
  auto f = assess_slice_quality(flat, normal.brain, {});
  CHECK_THAT(f.slices[mid].reason, Catch::Contains("low contrast"));
  // Kept and dropped partition the slices; JSON round-trips.
  CHECK(a.kept.size() + a.dropped.size() == 14);
  auto back = SliceQualityReport::from_json(a.to_json());
  CHECK(back.kept == a.kept);
  CHECK(back.dropped == a.dropped);
}

TEST_CASE("preprocess_volume: windows, brain mask, resize and normalization", "[preprocess]") {
  HeadPhantom p = make_head_phantom({});
  PreprocessOptions o;
  o.height = 32;
  o.width = 32;
  PreprocessedStudy s = preprocess_volume(p.ct, o);
  REQUIRE(s.data.sizes() == torch::IntArrayRef({3, 16, 32, 32}));
  REQUIRE(s.mask.sizes() == torch::IntArrayRef({16, 32, 32}));
  CHECK(torch::logical_or(s.mask == 0, s.mask == 1).all().item<bool>());
  CHECK(s.spacing_mm[1] == Approx(3.6 * 2));
  CHECK(s.brain_volume_ml > 100);
  CHECK(s.channels == std::vector<std::string>{"brain", "subdural", "bone"});
  // z-score inside the brain: mean 0, std 1 per channel; 0 outside.
  auto in = s.mask.ne(0);
  auto brain_channel = s.data[0].masked_select(in);
  CHECK(brain_channel.mean().item<double>() == Approx(0).margin(1e-3));
  CHECK(brain_channel.std(false).item<double>() == Approx(1).epsilon(1e-3));
  CHECK(s.data[0].masked_select(in.logical_not()).abs().max().item<float>() == 0.0f);
  CHECK(!s.quality.kept.empty());
  o.brain_extraction = false;
  o.normalize.method = NormalizeMethod::kNone;
  o.windows = {"brain"};
  PreprocessedStudy raw = preprocess_volume(p.ct, o);
  CHECK(raw.data.size(0) == 1);
  CHECK(!raw.mask.defined());
  CHECK(raw.data.max().item<float>() == 1.0f);  // the bone is 1 in the brain window
}

// ---- Volumes [C,D,H,W] ---------------------------------------------------------------------------

TEST_CASE("volume rotation: 90 degrees about each axis moves a voxel where hand-worked", "[preprocess]") {
  // One bright voxel in a 3x3x3 volume at (z, y, x) = (1, 0, 2); the centre is (1, 1, 1).
  torch::Tensor v = torch::zeros({1, 3, 3, 3});
  v[0][1][0][2] = 1.0f;
  // About D: (y, x) turn; an output voxel p reads the input at R^T (p - c) + c, with R rotating
  // (y, x) by +90 degrees: y' = -x, x' = y. So (y, x) = (0, 2) -> centred (-1, 1) -> (-1, -1) -> (0, 0).
  auto r = rotate_volume(v, {90, 0, 0});
  CHECK(r[0][1][0][0].item<float>() == Approx(1.0f).margin(1e-5));
  CHECK(r.sum().item<float>() == Approx(1.0f).margin(1e-4));
  // About W: (z, y) turn: (z, y) = (1, 0) -> centred (0, -1) -> z' = -y = 1, y' = z = 0 -> (2, 1).
  r = rotate_volume(v, {0, 0, 90});
  CHECK(r[0][2][1][2].item<float>() == Approx(1.0f).margin(1e-5));
  // About H: (x, z) turn: (x, z) = (2, 1) -> centred (1, 0) -> x' = 0, z' = 1 -> (z, x) = (2, 1).
  r = rotate_volume(v, {0, 90, 0});
  CHECK(r[0][2][0][1].item<float>() == Approx(1.0f).margin(1e-5));
  // Zero angles are the identity; four quarter turns too.
  CHECK(torch::allclose(rotate_volume(v, {0, 0, 0}), v));
  torch::Tensor q = v;
  for (int i = 0; i < 4; ++i) q = rotate_volume(q, {90, 0, 0});
  CHECK(torch::allclose(q, v, 1e-4, 1e-5));
  CHECK_THROWS_AS(rotate_volume(torch::zeros({3, 3, 3}), {1, 0, 0}), ValueError);
}

TEST_CASE("volume elastic deformation: seeded field, identity at zero, shape and range kept", "[preprocess]") {
  std::mt19937_64 a(5), b(5), c(6);
  const auto f = elastic_field_3d(6, 10, 12, 2.5, 2.0, a);
  REQUIRE(f.sizes() == torch::IntArrayRef({3, 6, 10, 12}));
  CHECK(f.abs().max().item<float>() == Approx(2.5f));
  CHECK(torch::equal(f, elastic_field_3d(6, 10, 12, 2.5, 2.0, b)));
  CHECK(!torch::equal(f, elastic_field_3d(6, 10, 12, 2.5, 2.0, c)));
  const torch::Tensor v = torch::rand({2, 6, 10, 12}, torch::Generator(at::detail::createCPUGenerator(3)));
  CHECK(torch::allclose(displace_volume(v, torch::zeros({3, 6, 10, 12})), v, 1e-5, 1e-6));
  const torch::Tensor d = displace_volume(v, f);
  CHECK(d.sizes() == v.sizes());
  CHECK(d.min().item<float>() >= v.min().item<float>() - 1e-6f);  // outside voxels take the channel minimum
  CHECK(d.max().item<float>() <= v.max().item<float>() + 1e-6f);
  // A constant shift of one voxel along x moves the content by one column.
  torch::Tensor shift = torch::zeros({3, 6, 10, 12});
  shift[2].fill_(1.0f);
  CHECK(torch::allclose(displace_volume(v, shift).narrow(3, 0, 11), v.narrow(3, 1, 11), 1e-5, 1e-6));
  CHECK_THROWS_AS(displace_volume(v, torch::zeros({3, 6, 10, 11})), ValueError);
  CHECK_THROWS_AS(elastic_field_3d(6, 10, 12, 1, 0, a), ValueError);
}

TEST_CASE("Gaussian noise takes volumes: shape kept, seeded, scaled to each channel's range", "[preprocess]") {
  torch::Tensor v = torch::zeros({2, 4, 8, 8});
  v[0].fill_(1.0f);
  v[0][0][0][0] = 0.0f;  // channel 0 spans [0, 1]; channel 1 is flat (range 0: no noise)
  std::mt19937_64 a(9), b(9);
  const auto n = add_gaussian_noise(v, 0.1, a);
  CHECK(n.sizes() == v.sizes());
  CHECK(torch::equal(n, add_gaussian_noise(v, 0.1, b)));
  CHECK(torch::equal(n[1], v[1]));
  const double sd = (n[0] - v[0]).std().item<double>();
  CHECK(sd == Approx(0.1).margin(0.02));
}
