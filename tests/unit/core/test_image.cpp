// The torch-free Image: geometry, validation, reorientation with loops (checked voxel by voxel
// against physical positions and against Volume's reorientation with LibTorch ops), and the
// zero-copy bridge to Volume.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cmath>

#include "tomograd/core/error.hpp"
#include "tomograd/core/image.hpp"
#include "tomograd/core/volume_image.hpp"

using namespace tomograd;

namespace {

// A 2x3x4 image whose value encodes its index: 100*k + 10*j + i (as test_volume.cpp's volume).
Image indexed_image(const Mat3& direction = identity_direction()) {
  Image image({2, 3, 4}, ImageGeometry{{3.0, 2.0, 1.0}, {10, 20, 30}, direction});
  for (int k = 0; k < 2; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 4; ++i) image.data()[(k * 3 + j) * 4 + i] = static_cast<float>(100 * k + 10 * j + i);
  return image;
}

// Every code of one letter of L/R, P/A and S/I each, in every order (48).
std::vector<std::string> all_codes() {
  const char* axes[3] = {"LR", "PA", "SI"};
  const int orders[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  std::vector<std::string> codes;
  for (const auto& o : orders)
    for (int s = 0; s < 8; ++s) {
      std::string c(3, ' ');
      for (int n = 0; n < 3; ++n) c[n] = axes[o[n]][(s >> n) & 1];
      codes.push_back(c);
    }
  return codes;
}

}  // namespace

TEST_CASE("Image validates its size and geometry", "[core]") {
  CHECK_THROWS_AS(Image({2, -1, 2}), ValueError);
  CHECK_THROWS_AS(Image({2, 2, 2}, ImageGeometry{{1, 0, 1}}), ValueError);
  ImageGeometry bad;
  bad.direction[0][0] = 2.0;
  CHECK_THROWS_AS(Image({2, 2, 2}, bad), ValueError);
  Image image({2, 3, 4});
  CHECK(image.numel() == 24);
  CHECK_THROWS_AS(image.set_geometry(bad), ValueError);
  CHECK(image.geometry().direction == identity_direction());
  // Copies share the voxels, as tensors do.
  Image copy = image;
  CHECK(copy.data() == image.data());
  // A large buffer is 2 MiB aligned (huge pages).
  Image large({8, 512, 512});
  CHECK(reinterpret_cast<std::uintptr_t>(large.data()) % (std::uintptr_t{2} << 20) == 0);
}

TEST_CASE("Image geometry maps indices to LPS by hand", "[core]") {
  const Image image = indexed_image();
  const auto p = image.geometry().index_to_lps(1, 2, 3);
  CHECK(p[0] == 10 + 3 * 1.0);
  CHECK(p[1] == 20 + 2 * 2.0);
  CHECK(p[2] == 30 + 1 * 3.0);
  const auto a = image.geometry().affine_lps();
  CHECK(a[0][0] == 1.0);
  CHECK(a[1][1] == 2.0);
  CHECK(a[2][2] == 3.0);
  CHECK(a[2][3] == 30.0);
  CHECK(orientation_code(image.geometry().direction) == "LPS");
}

TEST_CASE("Image reorient keeps every voxel at its physical position", "[core]") {
  const Image image = indexed_image();
  for (const std::string& code : all_codes()) {
    INFO(code);
    const Image r = reorient(image, code);
    REQUIRE(orientation_code(r.geometry().direction) == code);
    REQUIRE(r.numel() == image.numel());
    for (int64_t k = 0; k < r.depth(); ++k)
      for (int64_t j = 0; j < r.rows(); ++j)
        for (int64_t i = 0; i < r.cols(); ++i) {
          const auto p = r.geometry().index_to_lps(k, j, i);
          // image has the identity direction: invert by hand.
          const long vi = std::lround(p[0] - 10), vj = std::lround((p[1] - 20) / 2.0),
                     vk = std::lround((p[2] - 30) / 3.0);
          REQUIRE(r.data()[(k * r.rows() + j) * r.cols() + i] == static_cast<float>(100 * vk + 10 * vj + vi));
        }
  }
  CHECK(reorient(image, "LPS").data() == image.data());  // nothing moves: the buffer is shared
  CHECK_THROWS_AS(reorient(image, "LLS"), ValueError);
  CHECK_THROWS_AS(reorient(image, "LP"), ValueError);
}

TEST_CASE("Image reorient equals Volume reorient on an oblique sagittal volume", "[core]") {
  // Columns along +P (tilted), rows along -S, slices along +L: "PIL", not axis-aligned.
  const double c = std::cos(0.2), s = std::sin(0.2);
  const Mat3 oblique{{{0, s, c}, {c, 0, -s}, {s, -c, 0}}};
  torch::manual_seed(4);
  const Image image = [&] {
    Image im = indexed_image(oblique);
    for (int64_t n = 0; n < im.numel(); ++n) im.data()[n] += torch::rand({1}).item<float>();
    return im;
  }();
  const Volume volume = to_volume(image);
  for (const std::string& code : all_codes()) {
    INFO(code);
    const Image r = reorient(image, code);
    const Volume v = reorient(volume, code);
    REQUIRE(std::vector<int64_t>{r.depth(), r.rows(), r.cols()} == v.data().sizes().vec());
    REQUIRE(torch::equal(torch::from_blob(const_cast<float*>(r.data()), v.data().sizes()), v.data()));
    CHECK(r.geometry().spacing_mm == v.spacing_mm());
    CHECK(r.geometry().origin_lps == v.origin_lps());
    CHECK(r.geometry().direction == v.direction());
  }
  CHECK(canonical_orientation(image.geometry().direction) == canonical_orientation(volume));
}

TEST_CASE("to_volume and view_of share voxels with no copy", "[core]") {
  const float* voxels = nullptr;
  Volume v;
  {
    Image image = indexed_image();
    image.info().series_uid = "1.2.3";
    voxels = image.data();
    v = to_volume(image);
  }  // the Image is gone; the tensor keeps its buffer alive
  CHECK(v.data().data_ptr<float>() == voxels);
  CHECK(v.data()[1][2][3].item<float>() == 123.0f);
  CHECK(v.info().series_uid == "1.2.3");
  CHECK(v.spacing_mm() == Vec3{3.0, 2.0, 1.0});
  CHECK(v.origin_lps() == Vec3{10, 20, 30});
  const ImageView view = view_of(v);
  CHECK(view.data() == voxels);
  CHECK(view.shape() == Shape3{2, 3, 4});
  CHECK(view.info().series_uid == "1.2.3");
  CHECK(view.geometry().affine_lps() == v.affine_lps());
  CHECK_THROWS_AS(to_volume(Image()), ValueError);
}
