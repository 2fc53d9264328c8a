#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "tomograd/core/error.hpp"
#include "tomograd/core/volume.hpp"

using namespace tomograd;

namespace {
// A 2x3x4 volume whose value encodes its index: 100*k + 10*j + i.
Volume indexed_volume() {
  auto t = torch::zeros({2, 3, 4});
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 4; ++i) t[k][j][i] = 100 * k + 10 * j + i;
  return Volume(t, {3.0, 2.0, 1.0}, {10, 20, 30});
}
}  // namespace

TEST_CASE("Volume validates shape and spacing", "[core]") {
  REQUIRE_THROWS_AS(Volume(torch::zeros({2, 2}), {1, 1, 1}), ValueError);
  REQUIRE_THROWS_AS(Volume(torch::zeros({2, 2, 2}), {1, 0, 1}), ValueError);
  Mat3 bad = identity_direction();
  bad[0][0] = 2.0;
  REQUIRE_THROWS_AS(Volume(torch::zeros({2, 2, 2}), {1, 1, 1}, {0, 0, 0}, bad), ValueError);
  Volume v(torch::zeros({2, 3, 4}, torch::kInt16), {1, 1, 1});
  CHECK(v.data().scalar_type() == torch::kFloat32);
  CHECK(v.depth() == 2);
  CHECK(v.rows() == 3);
  CHECK(v.cols() == 4);
}

TEST_CASE("Volume maps indices to LPS positions", "[core]") {
  Volume v = indexed_volume();
  // i along x (spacing 1), j along y (2), k along z (3), identity direction.
  auto p = v.index_to_lps(1, 2, 3);
  CHECK(p[0] == Approx(10 + 3 * 1.0));
  CHECK(p[1] == Approx(20 + 2 * 2.0));
  CHECK(p[2] == Approx(30 + 1 * 3.0));
  CHECK(v.orientation_code() == "LPS");
  auto a = v.affine_lps();
  CHECK(a[0][0] == 1.0);
  CHECK(a[1][1] == 2.0);
  CHECK(a[2][2] == 3.0);
  CHECK(a[2][3] == 30.0);
}

TEST_CASE("reorient keeps every voxel at its physical position", "[core]") {
  Volume v = indexed_volume();
  for (const std::string code : {"LPS", "RAI", "SPL", "IAR", "PLS", "ASR"}) {
    Volume r = reorient(v, code);
    CHECK(r.orientation_code() == code);
    CHECK(r.data().numel() == v.data().numel());
    // Every voxel of r has the value of the voxel of v at the same LPS position.
    for (int64_t k = 0; k < r.depth(); ++k)
      for (int64_t j = 0; j < r.rows(); ++j)
        for (int64_t i = 0; i < r.cols(); ++i) {
          auto p = r.index_to_lps(k, j, i);
          // v has identity direction: invert directly.
          double vi = (p[0] - 10) / 1.0, vj = (p[1] - 20) / 2.0, vk = (p[2] - 30) / 3.0;
          float expect = static_cast<float>(100 * std::lround(vk) + 10 * std::lround(vj) +
                                            std::lround(vi));
          REQUIRE(r.data()[k][j][i].item<float>() == expect);
        }
  }
  REQUIRE_THROWS_AS(reorient(v, "LLS"), ValueError);
  REQUIRE_THROWS_AS(reorient(v, "LP"), ValueError);
}

TEST_CASE("canonical orientation follows the acquisition plane", "[core]") {
  Volume axial = indexed_volume();
  CHECK(canonical_orientation(axial) == "LPS");
  // Sagittal: rows along -S... columns along +P, slices along +L.
  Mat3 sag{{{0, 0, 1}, {1, 0, 0}, {0, -1, 0}}};
  Volume s(torch::zeros({2, 3, 4}), {1, 1, 1}, {0, 0, 0}, sag);
  CHECK(s.orientation_code() == "PIL");
  CHECK(canonical_orientation(s) == "PIR");
  Volume flipped = reorient(s, "ASR");
  CHECK(reorient(flipped, canonical_orientation(flipped)).orientation_code() == "PIR");
}
