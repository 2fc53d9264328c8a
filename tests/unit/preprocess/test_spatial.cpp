// Aspect-preserving resize with padding and the crop centred on the brain mask: layouts and
// offsets by hand, values, masks and geometry (every voxel keeps its LPS position), the
// pipeline, the cache-key JSON and the YAML keys.
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/preprocess/config.hpp"
#include "tomograd/preprocess/phantom.hpp"
#include "tomograd/preprocess/preprocess.hpp"
#include "tomograd/preprocess/resample.hpp"

using namespace tomograd;
using namespace tomograd::preprocess;

namespace {

using Offsets = std::pair<int64_t, int64_t>;

/// [D,rows,cols] float32 with voxel (k, j, i) = i: a ramp along the columns, constant along rows.
torch::Tensor column_ramp(int64_t depth, int64_t rows, int64_t cols) {
  return torch::arange(cols, torch::kFloat32).view({1, 1, -1}).expand({depth, rows, cols}).contiguous();
}

void check_same_point(const Vec3& a, const Vec3& b) {
  for (int r = 0; r < 3; ++r) CHECK(a[r] == Approx(b[r]).margin(1e-9));
}

/// (first, last) index of the nonzero entries of a 1D tensor.
std::pair<int64_t, int64_t> extent(const torch::Tensor& used) {
  const auto idx = torch::nonzero(used).view(-1);
  return {idx[0].item<int64_t>(), idx[-1].item<int64_t>()};
}

}  // namespace

TEST_CASE("keep_aspect_layout: one factor, padding split with the extra pixel below/right", "[preprocess]") {
  // 20x40 -> 32x32: min(32/20, 32/40) = 0.8 -> 16x32, 16 rows of padding: 8 above, 8 below.
  KeepAspectLayout l = keep_aspect_layout(20, 40, 32, 32);
  CHECK(l.scale == Approx(0.8));
  CHECK(l.rows == 16);
  CHECK(l.cols == 32);
  CHECK(l.pad_top == 8);
  CHECK(l.pad_left == 0);
  // Tall: 40x20 -> 32x32 pads the columns.
  l = keep_aspect_layout(40, 20, 32, 32);
  CHECK(l.rows == 32);
  CHECK(l.cols == 16);
  CHECK(l.pad_top == 0);
  CHECK(l.pad_left == 8);
  // 21x40 -> 32x32: 21 * 0.8 = 16.8 -> 17 rows; 15 rows of padding: 7 above, 8 below.
  l = keep_aspect_layout(21, 40, 32, 32);
  CHECK(l.rows == 17);
  CHECK(l.pad_top == 7);
  // Upscaling, limited by the width: 10x20 -> 64x32: min(6.4, 1.6) = 1.6 -> 16x32, 24 above.
  l = keep_aspect_layout(10, 20, 64, 32);
  CHECK(l.scale == Approx(1.6));
  CHECK(l.rows == 16);
  CHECK(l.cols == 32);
  CHECK(l.pad_top == 24);
  // Same aspect: no padding.
  l = keep_aspect_layout(20, 40, 10, 20);
  CHECK(l.rows == 10);
  CHECK(l.cols == 20);
  CHECK(l.pad_top == 0);
  CHECK(l.pad_left == 0);
  // A very flat image keeps at least one row.
  CHECK(keep_aspect_layout(1, 1000, 8, 8).rows == 1);
  CHECK_THROWS_AS(keep_aspect_layout(20, 40, 0, 32), ValueError);
  CHECK_THROWS_AS(keep_aspect_layout(0, 40, 32, 32), ValueError);
}

TEST_CASE("resize_slices_keep_aspect: values, zero padding, binary mask", "[preprocess]") {
  // x[j][i] = i on 20x40 -> 16x32 (scale 0.8) inside 32x32. With pixel centres aligned (as
  // cv::resize), output column i samples input column (i + 0.5) / 0.8 - 0.5 = 1.25 i + 0.125,
  // and linear interpolation of a ramp returns that position.
  auto x = column_ramp(2, 20, 40);  // [C=2 planes, 20, 40]
  auto r = resize_slices_keep_aspect(x, 32, 32, Interpolation::kLinear);
  REQUIRE(r.sizes() == torch::IntArrayRef({2, 32, 32}));
  CHECK(r.slice(1, 0, 8).abs().max().item<float>() == 0.0f);
  CHECK(r.slice(1, 24, 32).abs().max().item<float>() == 0.0f);
  for (int64_t j : {8, 15, 23}) {
    for (int64_t i : {0, 1, 17, 31}) CHECK(r[1][j][i].item<float>() == Approx(1.25 * i + 0.125).margin(1e-4));
  }
  // A fill value other than 0 reaches the padding only.
  auto f = resize_slices_keep_aspect(x, 32, 32, Interpolation::kLinear, -7.0);
  CHECK((f.slice(1, 0, 8) == -7.0f).all().item<bool>());
  CHECK(f[0][8][0].item<float>() == Approx(0.125).margin(1e-4));

  // Mask: left half of the columns set. Column i of the 32 comes from input column 1.25 i + 0.125
  // (nearest), which is < 20 exactly for i < 16.
  auto mask = torch::zeros({3, 20, 40}, torch::kUInt8);
  mask.slice(2, 0, 20).fill_(1);
  auto m = resize_slices_keep_aspect(mask, 32, 32, Interpolation::kNearest);
  REQUIRE(m.sizes() == torch::IntArrayRef({3, 32, 32}));
  CHECK(m.scalar_type() == torch::kUInt8);
  auto expect = torch::zeros({3, 32, 32}, torch::kUInt8);
  expect.slice(1, 8, 24).slice(2, 0, 16).fill_(1);
  CHECK(torch::equal(m, expect));
  // An image already of the right aspect is a plain resize.
  CHECK(torch::equal(resize_slices_keep_aspect(x, 10, 20, Interpolation::kLinear),
                     resize_slices(x, 10, 20, Interpolation::kLinear)));
  CHECK_THROWS_AS(resize_slices_keep_aspect(x, 32, -1, Interpolation::kLinear), ValueError);
}

TEST_CASE("resize_in_plane_keep_aspect: spacing and origin by hand", "[preprocess]") {
  // Identity direction, origin 0, spacing (z,y,x) 2, 1, 1; 20x40 -> 16x32 in 32x32.
  Volume v(column_ramp(2, 20, 40), {2.0, 1.0, 1.0});
  Volume r = resize_in_plane_keep_aspect(v, 32, 32);
  REQUIRE(r.data().sizes() == torch::IntArrayRef({2, 32, 32}));
  // Spacing: 1 * 20 / 16 = 1.25 and 1 * 40 / 32 = 1.25; z unchanged.
  CHECK(r.spacing_mm()[0] == Approx(2.0));
  CHECK(r.spacing_mm()[1] == Approx(1.25));
  CHECK(r.spacing_mm()[2] == Approx(1.25));
  // The scaled image's first centre sits at -0.5 + 0.5 * 1.25 = 0.125 mm along x and y (same
  // field of view); 8 padding rows above move the origin by 8 * 1.25 = 10 mm in y.
  CHECK(r.origin_lps()[0] == Approx(0.125));
  CHECK(r.origin_lps()[1] == Approx(0.125 - 10.0));
  CHECK(r.origin_lps()[2] == Approx(0.0));
  CHECK(r.data()[0][7].abs().max().item<float>() == 0.0f);
  CHECK(r.data()[0][8][4].item<float>() == Approx(1.25 * 4 + 0.125).margin(1e-4));
}

TEST_CASE("resize_in_plane_keep_aspect keeps every voxel at its LPS position", "[preprocess]") {
  // Rows point left, columns posterior, slices inferior; anisotropic in-plane spacing.
  Mat3 d{{{0, 1, 0}, {1, 0, 0}, {0, 0, -1}}};
  Volume v(column_ramp(3, 20, 40), {3.0, 0.5, 0.7}, {10, 20, 30}, d);
  Volume r = resize_in_plane_keep_aspect(v, 32, 32, Interpolation::kLinear);
  CHECK(r.spacing_mm()[1] == Approx(0.5 * 20 / 16));
  CHECK(r.spacing_mm()[2] == Approx(0.7 * 40 / 32));
  // Output voxel (k, 8 + j, i) is the input's continuous index (k, 1.25 j + 0.125, 1.25 i + 0.125):
  // the same physical point, and its value is the ramp at that column.
  for (int64_t k : {0, 2}) {
    for (int64_t j : {0, 7, 15}) {
      for (int64_t i : {0, 13, 31}) {
        const double sj = 1.25 * j + 0.125, si = 1.25 * i + 0.125;
        check_same_point(r.index_to_lps(k, 8 + j, i), v.index_to_lps(k, sj, si));
        CHECK(r.data()[k][8 + j][i].item<float>() == Approx(si).margin(1e-4));
      }
    }
  }
  // A padding row continues the grid: row 0 is 8 rows (of the new spacing) before the image.
  check_same_point(r.index_to_lps(1, 0, 0), v.index_to_lps(1, 0.125 - 8 * 1.25, 0.125));
}

TEST_CASE("preprocess keep_aspect: data, mask and geometry of the padded study", "[preprocess]") {
  // A non-square head phantom (48 rows x 64 columns) -> 32x32: scale 0.5, 24x32, 4 rows above.
  HeadPhantomOptions po;
  po.rows = 48;
  po.cols = 64;
  HeadPhantom p = make_head_phantom(po);
  PreprocessOptions o;
  o.reorient = "none";
  o.height = 32;
  o.width = 32;
  o.keep_aspect = true;
  PreprocessedStudy s = preprocess_volume(p.ct, o);
  REQUIRE(s.data.sizes() == torch::IntArrayRef({3, 16, 32, 32}));
  REQUIRE(s.mask.sizes() == torch::IntArrayRef({16, 32, 32}));
  CHECK(s.spacing_mm[1] == Approx(po.spacing_mm[1] * 2));
  CHECK(s.spacing_mm[2] == Approx(po.spacing_mm[2] * 2));
  // Padding rows: 0 in the data and the mask.
  CHECK(s.mask.slice(1, 0, 4).sum().item<int64_t>() == 0);
  CHECK(s.mask.slice(1, 28, 32).sum().item<int64_t>() == 0);
  CHECK(s.data.slice(2, 0, 4).abs().max().item<float>() == 0.0f);
  CHECK(s.data.slice(2, 28, 32).abs().max().item<float>() == 0.0f);
  // The mask is the brain extraction's mask, resized and padded the same way, and the z-score
  // runs inside it.
  BrainMask b = extract_brain(p.ct, o.brain);
  CHECK(torch::equal(s.mask, resize_slices_keep_aspect(b.mask, 32, 32, Interpolation::kNearest)));
  auto in = s.mask.ne(0);
  CHECK(s.data[0].masked_select(in).mean().item<double>() == Approx(0).margin(1e-3));
  // Geometry: voxel (k, 4 + j, i) is input index (k, 2 j + 0.5, 2 i + 0.5).
  const Volume out_geometry(torch::zeros({1, 1, 1}), s.spacing_mm, s.origin_lps, s.direction);
  for (int64_t j : {0, 23}) {
    for (int64_t i : {0, 31}) {
      check_same_point(out_geometry.index_to_lps(5, 4 + j, i), p.ct.index_to_lps(5, 2.0 * j + 0.5, 2.0 * i + 0.5));
    }
  }
  // Without keep_aspect the same options stretch the rows instead (48 -> 32, not 24): the brain
  // spans more rows.
  o.keep_aspect = false;
  PreprocessedStudy stretched = preprocess_volume(p.ct, o);
  CHECK(stretched.spacing_mm[1] == Approx(po.spacing_mm[1] * 48 / 32));
  auto rows_used = [](const torch::Tensor& m) { return m.ne(0).any(0).any(1).sum().item<int64_t>(); };
  CHECK(rows_used(stretched.mask) > rows_used(s.mask));
}

TEST_CASE("mask_crop_offsets: the window on the mask's box, inside the image", "[preprocess]") {
  // Union over slices of a [2,10,12] mask: rows 1-4, columns 7-10.
  auto mask = torch::zeros({2, 10, 12}, torch::kUInt8);
  mask[0].slice(0, 1, 3).slice(1, 7, 9).fill_(1);
  mask[1].slice(0, 3, 5).slice(1, 9, 11).fill_(1);
  // 4x4: top floor((1 + 4 - 3) / 2) = 1, left floor((7 + 10 - 3) / 2) = 7: rows 1-4, cols 7-10.
  CHECK(mask_crop_offsets(mask, 4, 4) == Offsets{1, 7});
  // 3x3 on the 4-wide box: centre 2.5 rounds down -> top floor((5 - 2) / 2) = 1, left 7.
  CHECK(mask_crop_offsets(mask, 3, 3) == Offsets{1, 7});
  // 6x6: top floor((5 - 5) / 2) = 0; left floor((17 - 5) / 2) = 6, the last that fits (12 - 6).
  CHECK(mask_crop_offsets(mask, 6, 6) == Offsets{0, 6});
  // 4x8: left floor((17 - 7) / 2) = 5 would end at column 12: clamped to 12 - 8 = 4.
  CHECK(mask_crop_offsets(mask, 4, 8) == Offsets{1, 4});
  // Clamped at the bottom: box rows 8-9 of 10, height 6 -> floor((17 - 5) / 2) = 6 -> 4.
  auto low = torch::zeros({10, 12}, torch::kUInt8);
  low[8][5] = 1;
  low[9][5] = 1;
  CHECK(mask_crop_offsets(low, 6, 3).first == 4);
  // A window larger than the image pads as the centre crop: rows 10 -> 14: floor(-4 / 2) = -2;
  // the columns still follow the mask: floor((14 - 2) / 2) = 6.
  CHECK(mask_crop_offsets(mask, 14, 3) == Offsets{-2, 7});
  CHECK(mask_crop_offsets(mask, 15, 3).first == -3);  // floor(-5 / 2)
  // A full mask is the centre crop; so is an empty one (logged).
  for (const auto& [h, w] : std::vector<Offsets>{{4, 4}, {7, 5}, {10, 12}, {13, 3}}) {
    CHECK(mask_crop_offsets(torch::ones({2, 10, 12}), h, w) == center_crop_offsets(10, 12, h, w));
    CHECK(mask_crop_offsets(torch::zeros({10, 12}), h, w) == center_crop_offsets(10, 12, h, w));
  }
  CHECK_THROWS_AS(mask_crop_offsets(mask, 0, 4), ValueError);
  CHECK_THROWS_AS(mask_crop_offsets(torch::ones({5}), 2, 2), ValueError);
  CHECK(parse_crop_mode("mask") == CropMode::kMask);
  CHECK(to_string(CropMode::kCenter) == "center");
  CHECK_THROWS_WITH(parse_crop_mode("roi"), Catch::Contains("valid: center, mask"));
}

TEST_CASE("crop_in_plane at an offset keeps every voxel at its LPS position", "[preprocess]") {
  Mat3 d{{{0, 1, 0}, {1, 0, 0}, {0, 0, -1}}};
  Volume v(column_ramp(2, 10, 12), {3.0, 2.0, 0.5}, {10, 20, 30}, d);
  Volume c = crop_in_plane(v, 3, -2, 4, 6);  // rows 3-6, columns -2..3 (2 padded)
  REQUIRE(c.data().sizes() == torch::IntArrayRef({2, 4, 6}));
  CHECK(c.spacing_mm() == v.spacing_mm());
  // Origin: + 3 rows * 2 mm along the row direction (L), - 2 columns * 0.5 mm along P.
  CHECK(c.origin_lps()[0] == Approx(16.0));
  CHECK(c.origin_lps()[1] == Approx(19.0));
  CHECK(c.origin_lps()[2] == Approx(30.0));
  CHECK(c.data()[1][0][0].item<float>() == 0.0f);  // padding
  CHECK(c.data()[1][0][2].item<float>() == 0.0f);  // column 0 of the ramp
  CHECK(c.data()[1][3][5].item<float>() == 3.0f);
  check_same_point(c.index_to_lps(1, 2, 4), v.index_to_lps(1, 5, 2));
}

TEST_CASE("preprocess crop mode mask: an off-centre head stays in the window", "[preprocess]") {
  // The phantom's head moved right: 48 columns of air (-1000 HU) added on the left.
  HeadPhantom p = make_head_phantom({});
  const auto air = torch::full({p.ct.depth(), p.ct.rows(), 48}, -1000.0f);
  Volume shifted(torch::cat({air, p.ct.data()}, 2), p.ct.spacing_mm(), p.ct.origin_lps(), p.ct.direction());
  PreprocessOptions o;
  o.reorient = "none";
  o.height = 0;
  o.width = 0;
  PreprocessedStudy full = preprocess_volume(shifted, o);  // 64 x 112, no crop
  REQUIRE(full.mask.sizes() == torch::IntArrayRef({16, 64, 112}));
  // The brain's box (union over slices), computed here from the uncropped mask.
  const auto plane = full.mask.ne(0).any(0);
  const auto [r0, r1] = extent(plane.any(1));
  const auto [c0, c1] = extent(plane.any(0));
  INFO("brain box rows " << r0 << "-" << r1 << ", columns " << c0 << "-" << c1);
  REQUIRE(c0 >= 48);  // right of the added air
  REQUIRE(r1 - r0 + 1 <= 48);
  REQUIRE(c1 - c0 + 1 <= 52);

  o.crop_height = 48;
  o.crop_width = 52;
  o.crop_mode = CropMode::kMask;
  PreprocessedStudy s = preprocess_volume(shifted, o);
  REQUIRE(s.data.sizes() == torch::IntArrayRef({3, 16, 48, 52}));
  // The window's centre on the box's centre (rounded down), then kept inside 64 x 112.
  const int64_t top = std::clamp<int64_t>((r0 + r1 - 47) / 2, 0, 64 - 48);
  const int64_t left = std::clamp<int64_t>((c0 + c1 - 51) / 2, 0, 112 - 52);
  CHECK(torch::equal(s.mask, full.mask.slice(1, top, top + 48).slice(2, left, left + 52)));
  CHECK(s.mask.sum().item<int64_t>() == full.mask.sum().item<int64_t>());  // the whole brain
  const Volume full_geometry(torch::zeros({1, 1, 1}), full.spacing_mm, full.origin_lps, full.direction);
  check_same_point(s.origin_lps, full_geometry.index_to_lps(0, static_cast<double>(top), static_cast<double>(left)));
  CHECK(s.spacing_mm == full.spacing_mm);
  // The centre crop of the same size (columns 30-81) cuts the brain.
  o.crop_mode = CropMode::kCenter;
  PreprocessedStudy centred = preprocess_volume(shifted, o);
  CHECK(centred.mask.sum().item<int64_t>() < full.mask.sum().item<int64_t>());
  // A window taller than the image pads the rows as the centre crop (top -8) and still follows
  // the mask in the columns.
  o.crop_mode = CropMode::kMask;
  o.crop_height = 80;
  PreprocessedStudy tall = preprocess_volume(shifted, o);
  REQUIRE(tall.mask.sizes() == torch::IntArrayRef({16, 80, 52}));
  CHECK(torch::equal(tall.mask.slice(1, 8, 72), full.mask.slice(2, left, left + 52)));
  check_same_point(tall.origin_lps, full_geometry.index_to_lps(0, -8.0, static_cast<double>(left)));
  // mask needs brain extraction.
  o.brain_extraction = false;
  CHECK_THROWS_WITH(o.validate(), Catch::Contains("preprocess.crop.mode"));
  CHECK_THROWS_AS(preprocess_volume(shifted, o), ConfigError);
}

TEST_CASE("to_json: keep_aspect and crop.mode only when they change the output", "[preprocess]") {
  PreprocessOptions o;
  const auto base = o.to_json();
  CHECK_FALSE(base["resize"].contains("keep_aspect"));
  o.keep_aspect = true;
  CHECK(o.to_json()["resize"]["keep_aspect"] == true);
  o.height = 0;
  o.width = 0;
  PreprocessOptions no_resize;
  no_resize.height = 0;
  no_resize.width = 0;
  CHECK(o.to_json() == no_resize.to_json());  // nothing to resize: the same key
  // crop.mode: absent without a crop and for the centre crop (older crop caches keep their keys).
  PreprocessOptions c;
  c.crop_mode = CropMode::kMask;
  CHECK(c.to_json() == base);
  c.crop_height = 200;
  c.crop_width = 180;
  CHECK(c.to_json()["crop"] == nlohmann::json{{"height", 200}, {"width", 180}, {"mode", "mask"}});
  c.crop_mode = CropMode::kCenter;
  CHECK(c.to_json()["crop"] == nlohmann::json{{"height", 200}, {"width", 180}});
}

TEST_CASE("config: resize.keep_aspect and crop.mode decode and validate", "[preprocess]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "ok.yaml", R"(
preprocess:
  resize: {height: 224, width: 224, keep_aspect: true}
  crop: {height: 200, width: 180, mode: mask}
)");
  PreprocessConfig c = load_preprocess_config(tmp / "ok.yaml");
  CHECK(c.preprocess.keep_aspect);
  CHECK(c.preprocess.crop_mode == CropMode::kMask);
  CHECK(c.preprocess.crop_height == 200);
  PreprocessConfig d = load_preprocess_config(tmp / "ok.yaml", {"preprocess.crop.mode=center"});
  CHECK(d.preprocess.crop_mode == CropMode::kCenter);

  auto fails = [&](const std::string& yaml, const std::string& message) {
    write_file_atomic(tmp / "bad.yaml", yaml, Overwrite::kAllow);
    CHECK_THROWS_WITH(load_preprocess_config(tmp / "bad.yaml"), Catch::Contains(message));
  };
  fails("preprocess: {crop: {height: 8, width: 8, mode: roi}}", "'preprocess.crop.mode'");
  fails("preprocess: {crop: {height: 8, width: 8, mode: roi}}", "valid: center, mask");
  fails("preprocess: {brain_extraction: {enabled: false}, crop: {height: 8, width: 8, mode: mask}}",
        "preprocess.crop.mode");
  fails("preprocess: {resize: {keep_aspect: maybe}}", "preprocess.resize.keep_aspect");
  fails("preprocess: {resize: {keep_aspekt: true}}", "unknown key 'preprocess.resize.keep_aspekt'");

  // The documented config holds both keys at their defaults.
  PreprocessConfig head = load_preprocess_config(std::filesystem::path(TOMOGRAD_SOURCE_DIR) / "configs" /
                                                 "preprocess_head_ct.yaml");
  CHECK_FALSE(head.preprocess.keep_aspect);
  CHECK(head.preprocess.crop_mode == CropMode::kCenter);
}
