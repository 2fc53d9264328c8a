// Lumbar augmentations: the left-right mirror (image and labels), elastic deformation and 3D
// rotation of classifier inputs, and the config keys that switch them on.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/tasks/lumbar/augment.hpp"
#include "tomograd/train/loader.hpp"

using namespace tomograd;
using namespace tomograd::tasks::lumbar;

namespace {

InputOptions input_of(const std::string& kind) {
  InputOptions in;
  in.kind = kind;
  in.context = 1;
  in.shared_levels = true;
  return in;
}

/// A 2.5D input whose every channel is constant and equal to its index, plus a column ramp
/// (0.001 * column) that shows a flip of the columns.
torch::Tensor numbered_input(int64_t channels, int64_t side = 8) {
  return (torch::arange(channels, torch::kFloat32).view({-1, 1, 1}) +
          torch::arange(side, torch::kFloat32).view({1, 1, -1}) * 0.001f)
      .expand({channels, side, side})
      .contiguous();
}

}  // namespace

TEST_CASE("lumbar mirror: sagittal crops swap left and right foramen and reverse their slices", "[lumbar]") {
  const InputOptions in = input_of("sagittal");
  const torch::Tensor x = numbered_input(45);  // 5 levels x 3 crops x 3 slices
  const torch::Tensor m = mirror_input(x, in);
  REQUIRE(m.sizes() == x.sizes());
  // Level 2's blocks start at channel 18: canal 18,19,20 -> 20,19,18; left foramen (21..23) gets
  // the right foramen's slices reversed (26,25,24) and the right one the left's (23,22,21).
  const std::vector<float> expected{20, 19, 18, 26, 25, 24, 23, 22, 21};
  for (int c = 0; c < 9; ++c) CHECK(m[18 + c][0][0].item<float>() == Approx(expected[static_cast<std::size_t>(c)]));
  CHECK(m[18][3][5].item<float>() == Approx(20.005f));  // in-plane unchanged: no L-R axis there
  CHECK(torch::equal(mirror_input(m, in), x));
}

TEST_CASE("lumbar mirror: axial crops reverse their columns, combined does both", "[lumbar]") {
  const torch::Tensor ax = numbered_input(15);
  const torch::Tensor m = mirror_input(ax, input_of("axial"));
  CHECK(m[4][2][0].item<float>() == Approx(4.007f));  // column 0 <- column 7; slices kept
  CHECK(m[4][2][7].item<float>() == Approx(4.000f));
  CHECK(torch::equal(mirror_input(m, input_of("axial")), ax));

  const torch::Tensor comb = numbered_input(60);  // 5 levels x (3 sagittal + 1 axial) x 3 slices
  const torch::Tensor mc = mirror_input(comb, input_of("combined"));
  CHECK(mc[3][0][0].item<float>() == Approx(8.0f));    // level 0 left foramen <- right foramen, reversed
  CHECK(mc[9][0][0].item<float>() == Approx(9.007f));  // level 0 axial: slice kept, columns reversed
  CHECK(torch::equal(mirror_input(mc, input_of("combined")), comb));
  CHECK_THROWS_AS(mirror_input(numbered_input(44), input_of("sagittal")), ValueError);
}

TEST_CASE("lumbar mirror: a volume reverses its left-right axis", "[lumbar]") {
  const torch::Tensor v = torch::arange(2 * 4 * 3 * 3, torch::kFloat32).reshape({2, 4, 3, 3});
  const torch::Tensor m = mirror_input(v, input_of("volume"));
  CHECK(torch::equal(m[1][0], v[1][3]));
  CHECK(torch::equal(m[0][2], v[0][1]));
  CHECK(torch::equal(mirror_input(m, input_of("volume")), v));
}

TEST_CASE("lumbar mirror: labels and points of a labelled study swap left and right", "[lumbar]") {
  std::array<int, kLabels> grades{};
  for (int k = 0; k < kLabels; ++k) grades[static_cast<std::size_t>(k)] = k % 3;
  grades[label_index(1, 3)] = 2;   // left foraminal narrowing at L4/L5 severe
  grades[label_index(2, 3)] = 0;   // right normal
  grades[label_index(4, 0)] = -1;  // right subarticular L1/L2 unlabelled
  const auto m = mirror_grades(grades);
  CHECK(m[label_index(2, 3)] == 2);
  CHECK(m[label_index(1, 3)] == 0);
  CHECK(m[label_index(3, 0)] == -1);
  CHECK(m[label_index(0, 4)] == grades[label_index(0, 4)]);  // the canal is its own mirror
  CHECK(mirror_grades(m) == grades);
  CHECK(kConditionKeys[mirrored_condition(1)] == std::string("right_neural_foraminal_narrowing"));
  CHECK(kConditionKeys[mirrored_condition(4)] == std::string("left_subarticular_stenosis"));

  // Points: the spine's midline at x = 10 mm (LPS x runs to the patient's left).
  LevelPoints pts;
  pts[label_index(0, 2)] = Vec3{10, -5, 30};  // canal on the midline
  pts[label_index(1, 2)] = Vec3{25, -8, 31};  // left foramen 15 mm to the left
  pts[label_index(2, 2)] = Vec3{-4, -8, 29};  // right foramen 14 mm to the right
  const LevelPoints mp = mirror_points(pts, Vec3{10, 0, 0}, Vec3{1, 0, 0});
  REQUIRE(mp[label_index(0, 2)]);
  CHECK((*mp[label_index(0, 2)])[0] == Approx(10));
  REQUIRE(mp[label_index(2, 2)]);  // the left point, reflected, is now the right one
  CHECK((*mp[label_index(2, 2)])[0] == Approx(-5));
  CHECK((*mp[label_index(2, 2)])[2] == Approx(31));
  CHECK((*mp[label_index(1, 2)])[0] == Approx(24));
  CHECK(!mp[label_index(1, 0)]);
  const LevelPoints back = mirror_points(mp, Vec3{10, 0, 0}, Vec3{1, 0, 0});
  CHECK((*back[label_index(1, 2)])[0] == Approx(25));
}

TEST_CASE("lumbar deformations keep the shape and depend on the sample's seed only", "[lumbar]") {
  InputOptions in = input_of("sagittal");
  in.elastic_p = 1.0;
  in.elastic_alpha_px = 3;
  in.elastic_sigma_px = 2;
  const torch::Tensor x = torch::rand({45, 16, 16}, torch::Generator(at::detail::createCPUGenerator(1)));
  const uint64_t seed = train::DataLoader::sample_seed(42, 3, 7);  // (run seed, epoch, sample)
  auto draw = [&](uint64_t s, const InputOptions& o, const torch::Tensor& v) {
    std::mt19937_64 rng(s);
    return deform_input(v, o, rng);
  };
  const torch::Tensor a = draw(seed, in, x);
  CHECK(a.sizes() == x.sizes());
  CHECK(torch::equal(a, draw(seed, in, x)));
  CHECK(!torch::allclose(a, x));
  CHECK(!torch::allclose(a, draw(train::DataLoader::sample_seed(42, 4, 7), in, x)));
  CHECK(!torch::allclose(a, draw(train::DataLoader::sample_seed(42, 3, 8), in, x)));

  // Off: no draw at all, the input comes back unchanged and the generator untouched.
  in.elastic_p = 0;
  std::mt19937_64 rng(seed), fresh(seed);
  CHECK(torch::equal(deform_input(x, in, rng), x));
  CHECK(rng() == fresh());

  InputOptions vol = input_of("volume");
  vol.elastic_p = 1.0;
  vol.elastic_alpha_px = 2;
  vol.elastic_sigma_px = 1.5;
  vol.rotate3d_deg = 10;
  const torch::Tensor v = torch::rand({2, 6, 12, 12}, torch::Generator(at::detail::createCPUGenerator(2)));
  const torch::Tensor dv = draw(seed, vol, v);
  CHECK(dv.sizes() == v.sizes());
  CHECK(torch::equal(dv, draw(seed, vol, v)));
  CHECK(!torch::allclose(dv, v));
}

TEST_CASE("lumbar augmentation keys: defaults off, read from input:, bad values named", "[lumbar]") {
  const std::string cfg = std::string(TOMOGRAD_SOURCE_DIR) + "/configs/lumbar_sagittal.yaml";
  const auto base = load_config(cfg);
  CHECK(base.input.flip_lr == 0.0);
  CHECK(base.input.elastic_p == 0.0);
  CHECK(base.input.rotate3d_deg == 0.0);
  const auto on = load_config(cfg, {"input.flip_lr=0.5", "input.elastic_p=0.25", "input.elastic_alpha_px=3",
                                    "input.elastic_sigma_px=2"});
  CHECK(on.input.flip_lr == 0.5);
  CHECK(on.input.elastic_p == 0.25);
  CHECK(on.input.elastic_alpha_px == 3.0);
  CHECK(on.input.elastic_sigma_px == 2.0);
  CHECK_THROWS_WITH(load_config(cfg, {"input.flip_lr=1.5"}), Catch::Contains("input.flip_lr"));
  CHECK_THROWS_WITH(load_config(cfg, {"input.elastic_sigma_px=0"}), Catch::Contains("input.elastic_sigma_px"));
  CHECK_THROWS_WITH(load_config(cfg, {"input.flip_lrr=1"}), Catch::Contains("input.flip_lrr"));
}
