// PNG export: window mapping on hand-computed values, file names, and the written pixels, read
// back by a small independent PNG decoder (zlib only) rather than by OpenCV, which wrote them.
#include <torch/torch.h>
#include <zlib.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "support/fixtures.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/png_export.hpp"

using namespace tomograd;
using namespace tomograd::io;
namespace fs = std::filesystem;

namespace {

// A decoded greyscale PNG (colour type 0, not interlaced), samples row-major.
struct GreyPng {
  int width = 0, height = 0, bit_depth = 0, color_type = -1;
  std::vector<uint16_t> samples;
};

uint32_t be32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

// PNG spec (ISO/IEC 15948) sections 5 (chunks), 9 (filters), 10 (zlib compression).
GreyPng decode_grey_png(const fs::path& path) {
  const std::string f = read_file(path);
  REQUIRE(f.size() > 8);
  REQUIRE(f.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
  GreyPng png;
  std::string idat;
  int interlace = -1;
  for (size_t at = 8; at + 12 <= f.size();) {
    const uint32_t len = be32(f, at);
    const std::string type = f.substr(at + 4, 4);
    const std::string data = f.substr(at + 8, len);
    if (type == "IHDR") {
      png.width = static_cast<int>(be32(data, 0));
      png.height = static_cast<int>(be32(data, 4));
      png.bit_depth = static_cast<unsigned char>(data[8]);
      png.color_type = static_cast<unsigned char>(data[9]);
      interlace = static_cast<unsigned char>(data[12]);
    } else if (type == "IDAT") {
      idat += data;
    } else if (type == "IEND") {
      break;
    }
    at += 12 + len;
  }
  REQUIRE(png.color_type == 0);
  REQUIRE(interlace == 0);
  REQUIRE((png.bit_depth == 8 || png.bit_depth == 16));
  const size_t bpp = png.bit_depth / 8;
  const size_t stride = static_cast<size_t>(png.width) * bpp;
  std::vector<unsigned char> raw(static_cast<size_t>(png.height) * (stride + 1));
  uLongf raw_len = raw.size();
  REQUIRE(uncompress(raw.data(), &raw_len, reinterpret_cast<const Bytef*>(idat.data()),
                     idat.size()) == Z_OK);
  REQUIRE(raw_len == raw.size());

  std::vector<unsigned char> prev(stride, 0), cur(stride);
  png.samples.reserve(static_cast<size_t>(png.width) * png.height);
  for (int y = 0; y < png.height; ++y) {
    const unsigned char* line = raw.data() + y * (stride + 1);
    const int filter = line[0];
    for (size_t x = 0; x < stride; ++x) {
      const int a = x >= bpp ? cur[x - bpp] : 0, b = prev[x], c = x >= bpp ? prev[x - bpp] : 0;
      int pred = 0;
      switch (filter) {
        case 0: pred = 0; break;
        case 1: pred = a; break;
        case 2: pred = b; break;
        case 3: pred = (a + b) / 2; break;
        case 4: {
          const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
          pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
          break;
        }
        default: FAIL("bad PNG filter type " << filter);
      }
      cur[x] = static_cast<unsigned char>(line[1 + x] + pred);
    }
    for (int x = 0; x < png.width; ++x) {
      // 16-bit samples are big-endian (PNG spec 7.1).
      png.samples.push_back(bpp == 1 ? cur[x] : static_cast<uint16_t>(cur[2 * x] << 8 | cur[2 * x + 1]));
    }
    std::swap(prev, cur);
  }
  return png;
}

Volume row_volume(std::vector<float> values, int64_t slices = 1) {
  const int64_t w = static_cast<int64_t>(values.size()) / slices;
  return Volume(torch::tensor(values).reshape({slices, 1, w}), {1, 1, 1});
}

}  // namespace

TEST_CASE("window_slice maps through the window on hand-computed values", "[io]") {
  // Window 40/80: low 0, high 80. v -> round(clamp(v/80, 0, 1) * maxval).
  const Volume v = row_volume({-10, 0, 20, 40, 60, 80, 100, NAN});
  const Window w{40, 80};
  // 8-bit: 20 -> 63.75 -> 64; 40 -> 127.5 -> 128; 60 -> 191.25 -> 191; NaN -> 0.
  CHECK(window_slice(v, 0, w, 8) == std::vector<uint16_t>{0, 0, 64, 128, 191, 255, 255, 0});
  // 16-bit: 20 -> 16383.75 -> 16384; 40 -> 32767.5 -> 32768; 60 -> 49151.25 -> 49151.
  CHECK(window_slice(v, 0, w, 16) ==
        std::vector<uint16_t>{0, 0, 16384, 32768, 49151, 65535, 65535, 0});
  // Bone window 600/2800: low -800, high 2000; 1000 HU -> 1800/2800*255 = 163.93 -> 164.
  const Volume bone = row_volume({-1000, -800, 1000, 3000});
  CHECK(window_slice(bone, 0, Window{600, 2800}, 8) == std::vector<uint16_t>{0, 0, 164, 255});
}

TEST_CASE("window_slice rejects bad arguments", "[io]") {
  const Volume v = row_volume({1, 2, 3, 4, 5, 6}, 3);
  CHECK_THROWS_AS(window_slice(v, 0, Window{}, 12), ValueError);
  CHECK_THROWS_AS(window_slice(v, -1, Window{}, 8), ValueError);
  CHECK_THROWS_AS(window_slice(v, 3, Window{}, 8), ValueError);
  CHECK_THROWS_AS(window_slice(v, 0, Window{40, 0}, 8), ValueError);
  CHECK(window_slice(v, 2, Window{}, 8).size() == 2);
}

TEST_CASE("export_png writes one file per slice with the expected names and pixels", "[io]") {
  test::TempDir tmp;
  // 3 slices of 2x3; slice k holds k*40 + {-10, 0, 20, 40, 60, 100}.
  auto t = torch::empty({3, 2, 3});
  const float base[6] = {-10, 0, 20, 40, 60, 100};
  for (int k = 0; k < 3; ++k)
    for (int n = 0; n < 6; ++n) t[k][n / 3][n % 3] = base[n] + 40.0f * k;
  Volume v(t, {2, 1, 1});
  v.info().instance_numbers = {5, 6, 7};
  v.info().study_uid = "1.2.3";  // overridden by the option below

  PngExportOptions options;
  options.window = Window{40, 80};
  options.study_id = "ST 1/a";        // sanitized to "ST_1_a"
  options.series_id = "1.2.840-5_x";  // kept as is
  const fs::path out = tmp / "png" / "nested";  // created
  const auto paths = export_png(v, out, options);
  REQUIRE(paths.size() == 3);
  for (int k = 0; k < 3; ++k) {
    CHECK(paths[k] == out / ("ST_1_a_1.2.840-5_x_" + std::to_string(5 + k) + ".png"));
    CHECK(fs::exists(paths[k]));
  }

  // Hand-computed 8-bit levels (window 0..80): slice 0 {-10,0,20,40,60,100} -> {0,0,64,128,191,
  // 255}; slice 1 {30,40,60,80,100,140} -> {96,128,191,255,255,255} (30/80*255 = 95.6);
  // slice 2 {70,80,...} -> {223,255,255,255,255,255} (70/80*255 = 223.1).
  const std::vector<std::vector<uint16_t>> want8 = {
      {0, 0, 64, 128, 191, 255}, {96, 128, 191, 255, 255, 255}, {223, 255, 255, 255, 255, 255}};
  for (int k = 0; k < 3; ++k) {
    const GreyPng png = decode_grey_png(paths[k]);
    CHECK(png.width == 3);
    CHECK(png.height == 2);
    CHECK(png.bit_depth == 8);
    CHECK(png.samples == want8[k]);
  }

  SECTION("refuses to overwrite, leaving the files as they were") {
    const std::string before = read_file(paths[1]);
    Volume brighter(v.data() + 1000.0f, {2, 1, 1});
    brighter.info().instance_numbers = {5, 6, 7};
    CHECK_THROWS_AS(export_png(brighter, out, options), IoError);
    CHECK(read_file(paths[1]) == before);
    options.overwrite = Overwrite::kAllow;
    export_png(brighter, out, options);
    CHECK(decode_grey_png(paths[1]).samples == std::vector<uint16_t>(6, 255));
  }
  SECTION("16-bit") {
    options.bit_depth = 16;
    const auto p16 = export_png(v, tmp / "png16", options);
    const GreyPng png = decode_grey_png(p16[0]);
    CHECK(png.bit_depth == 16);
    // 20 -> 16383.75 -> 16384; 40 -> 32767.5 -> 32768; 60 -> 49151.25 -> 49151.
    CHECK(png.samples == std::vector<uint16_t>{0, 0, 16384, 32768, 49151, 65535});
  }
  SECTION("default names: study and series UIDs, else placeholders; 1-based slice numbers") {
    Volume plain(t, {2, 1, 1});
    const auto p = export_png(plain, tmp / "plain", PngExportOptions{});
    CHECK(p.back().filename() == "study_series_3.png");
    plain.info().study_uid = "1.2.3";
    plain.info().series_uid = "4.5";
    CHECK(export_png(plain, tmp / "uids", PngExportOptions{})[0].filename() == "1.2.3_4.5_1.png");
  }
  SECTION("bad options") {
    options.bit_depth = 12;
    CHECK_THROWS_AS(export_png(v, tmp / "bad", options), ValueError);
    options.bit_depth = 8;
    v.info().instance_numbers = {5, 5, 7};
    CHECK_THROWS_AS(export_png(v, tmp / "dup", options), ValueError);
    v.info().instance_numbers = {5, 6};
    CHECK_THROWS_AS(export_png(v, tmp / "short", options), ValueError);
    CHECK_FALSE(fs::exists(tmp / "bad"));
  }
}
