#pragma once
// Small checks the unit tests share (header-only, Catch2): exact-reference comparisons, volume
// geometry equality and raw file writing for hand-made inputs.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "tomograd/core/volume.hpp"

namespace tomograd::test {

/// Equality to a reference value computed elsewhere (scikit-learn, numpy) up to 1e-9 absolute.
inline Approx near(double v) { return Approx(v).epsilon(0).margin(1e-9); }

/// Requires @p got to have @p want's spacing (1e-5 mm), origin (@p origin_margin mm) and
/// direction cosines (1e-5).
inline void check_same_geometry(const Volume& got, const Volume& want, double origin_margin = 1e-5) {
  for (int a = 0; a < 3; ++a) {
    CHECK(got.spacing_mm()[a] == Approx(want.spacing_mm()[a]).margin(1e-5));
    CHECK(got.origin_lps()[a] == Approx(want.origin_lps()[a]).margin(origin_margin));
    for (int c = 0; c < 3; ++c) CHECK(got.direction()[a][c] == Approx(want.direction()[a][c]).margin(1e-5));
  }
}

/// Writes @p bytes to @p path as they are (hand-made, often malformed, inputs).
inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

}  // namespace tomograd::test
