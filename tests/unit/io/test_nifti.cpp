// NIfTI reading and writing: round trips of every written type and version, files written by
// nibabel (including big-endian and NIfTI-2), nibabel reading ours, and error messages.
#include <torch/torch.h>
#include <zlib.h>

#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>

#include "support/checks.hpp"
#include "support/fixtures.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/nifti.hpp"

using namespace tomograd;
using test::check_same_geometry;
using test::write_bytes;
using namespace tomograd::io;
namespace fs = std::filesystem;

namespace {

// Proper rotation: 20 degrees about (1,2,3)/|.|, then its columns permuted (i, j, k point
// roughly to S, L, P), so every entry is non-zero and no axis is in storage order.
Mat3 oblique_direction() {
  const double a = 20.0 * M_PI / 180.0, n = std::sqrt(14.0);
  const double x = 1 / n, y = 2 / n, z = 3 / n, c = std::cos(a), s = std::sin(a), t = 1 - c;
  const Mat3 r = {{{t * x * x + c, t * x * y - s * z, t * x * z + s * y},
                   {t * x * y + s * z, t * y * y + c, t * y * z - s * x},
                   {t * x * z - s * y, t * y * z + s * x, t * z * z + c}}};
  Mat3 d{};
  const int perm[3] = {2, 0, 1};
  for (int row = 0; row < 3; ++row)
    for (int col = 0; col < 3; ++col) d[row][col] = r[row][perm[col]];
  return d;
}

// The same with its slice axis reversed: determinant -1, so the qform needs qfac = -1.
Mat3 improper_direction() {
  Mat3 d = oblique_direction();
  for (int row = 0; row < 3; ++row) d[row][2] = -d[row][2];
  return d;
}

// A 3x4x5 volume (D,H,W) of seeded values that @p type stores exactly, including the type's
// extremes for integer types.
Volume test_volume(NiftiDataType type, const Mat3& direction, uint32_t seed) {
  std::mt19937 rng(seed);
  auto t = torch::empty({3, 4, 5});
  float* p = t.data_ptr<float>();
  for (int64_t n = 0; n < t.numel(); ++n) {
    switch (type) {
      case NiftiDataType::kUint8: p[n] = static_cast<float>(rng() % 256); break;
      case NiftiDataType::kInt16: p[n] = static_cast<float>(int(rng() % 65536) - 32768); break;
      case NiftiDataType::kUint16: p[n] = static_cast<float>(rng() % 65536); break;
      // Integers up to 2^24 are exact in float32.
      case NiftiDataType::kInt32: p[n] = static_cast<float>(int(rng() % 33554432) - 16777216); break;
      default:
        p[n] = std::uniform_real_distribution<float>(-2000.0f, 3000.0f)(rng);
        break;
    }
  }
  if (type == NiftiDataType::kUint8) {
    p[0] = 0;
    p[1] = 255;
  } else if (type == NiftiDataType::kInt16) {
    p[0] = -32768;
    p[1] = 32767;
  } else if (type == NiftiDataType::kUint16) {
    p[0] = 0;
    p[1] = 65535;
  }
  return Volume(t, {2.5, 0.7, 1.3}, {-12.5, 30.3, 101.3}, direction);
}

const char* type_name(NiftiDataType t) {
  switch (t) {
    case NiftiDataType::kUint8: return "uint8";
    case NiftiDataType::kInt16: return "int16";
    case NiftiDataType::kUint16: return "uint16";
    case NiftiDataType::kInt32: return "int32";
    case NiftiDataType::kFloat32: return "float32";
    case NiftiDataType::kFloat64: return "float64";
    case NiftiDataType::kAuto: return "auto";
  }
  return "?";
}

// Up to the first @p n bytes of a file, decompressed when it is gzip (zlib's gzread passes plain
// files through unchanged).
std::string read_prefix(const fs::path& path, size_t n) {
  gzFile f = gzopen(path.c_str(), "rb");
  REQUIRE(f != nullptr);
  std::string buf(n, '\0');
  const int got = gzread(f, buf.data(), static_cast<unsigned>(n));
  gzclose(f);
  REQUIRE(got >= 0);
  buf.resize(static_cast<size_t>(got));
  return buf;
}

int32_t le_int32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return static_cast<int32_t>(v);
}

// Runs Python with nibabel on @p script (argv[1..] = @p args) and returns its stdout lines as
// "key -> numbers". nibabel is the independent reference (python3-nibabel, scripts/install-deps.sh).
std::map<std::string, std::vector<double>> run_nibabel(const std::string& script,
                                                       const std::vector<std::string>& args) {
  test::TempDir tmp;
  const fs::path py = tmp / "check.py";
  write_bytes(py, script);
  std::string cmd = "/usr/bin/python3 " + test::shell_quote(py.string());
  for (const auto& a : args) cmd += " " + test::shell_quote(a);
  const auto r = test::run_command(cmd);
  INFO("python3 stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  std::map<std::string, std::vector<double>> out;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string key;
    words >> key;
    double v;
    while (words >> v) out[key].push_back(v);
  }
  return out;
}

// Expected LPS affine rows (3x4) of a file, compared to ours to 1e-4.
void check_affine(const Volume& v, const std::array<std::array<double, 4>, 3>& want) {
  const auto a = v.affine_lps();
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) {
      INFO("affine[" << r << "][" << c << "]");
      CHECK(a[r][c] == Approx(want[r][c]).margin(1e-4));
    }
}

// nibabel's img.get_fdata()[i, j, k] is our data()[k][j][i].
float at_ijk(const Volume& v, int64_t i, int64_t j, int64_t k) {
  return v.data()[k][j][i].item<float>();
}

struct Voxel {
  int64_t i, j, k;
  double value;
};

void check_voxels(const Volume& v, const std::vector<Voxel>& voxels) {
  for (const auto& x : voxels) {
    INFO("voxel (i,j,k) = (" << x.i << "," << x.j << "," << x.k << ")");
    CHECK(at_ijk(v, x.i, x.j, x.k) == Approx(x.value).epsilon(1e-4).margin(1e-4));
  }
}

}  // namespace

TEST_CASE("NIfTI round trip keeps values and geometry for every type and version", "[io]") {
  test::TempDir tmp;
  const NiftiDataType types[] = {NiftiDataType::kUint8,   NiftiDataType::kInt16,
                                 NiftiDataType::kUint16,  NiftiDataType::kInt32,
                                 NiftiDataType::kFloat32, NiftiDataType::kFloat64};
  uint32_t seed = 1;
  for (int version : {1, 2}) {
    for (const std::string ext : {".nii", ".nii.gz"}) {
      for (NiftiDataType type : types) {
        for (const Mat3& dir : {oblique_direction(), improper_direction()}) {
          const Volume v = test_volume(type, dir, seed++);
          const fs::path path =
              tmp / ("v" + std::to_string(version) + "_" + type_name(type) + "_" +
                     std::to_string(seed) + ext);
          INFO(path.filename().string());
          NiftiWriteOptions options;
          options.version = version;
          options.datatype = type;
          write_nifti(v, path, options);

          // Header checks on the bytes: gzip magic, sizeof_hdr and magic string of the version.
          const std::string raw = read_file(path);
          const bool gz = static_cast<unsigned char>(raw[0]) == 0x1f &&
                          static_cast<unsigned char>(raw[1]) == 0x8b;
          CHECK(gz == (ext == ".nii.gz"));
          // Header, 4-byte extender, 3x4x5 voxels.
          const size_t header_size = version == 1 ? 348 : 540;
          const std::string hdr = read_prefix(path, 1 << 16);
          const size_t voxel_bytes = type == NiftiDataType::kUint8 ? 1
                                     : type == NiftiDataType::kInt16 ? 2
                                     : type == NiftiDataType::kUint16 ? 2
                                     : type == NiftiDataType::kFloat64 ? 8 : 4;
          REQUIRE(hdr.size() == header_size + 4 + 60 * voxel_bytes);
          if (version == 1) {
            CHECK(le_int32(hdr, 0) == 348);
            CHECK(hdr.compare(344, 4, std::string("n+1\0", 4)) == 0);
          } else {
            CHECK(le_int32(hdr, 0) == 540);
            CHECK(hdr.compare(4, 4, std::string("n+2\0", 4)) == 0);
          }

          const Volume r = read_nifti(path);
          REQUIRE(r.data().sizes() == v.data().sizes());
          // float64 stores float32 values exactly, so every type must be bit-exact here.
          CHECK(torch::equal(r.data(), v.data()));
          check_same_geometry(r, v);
        }
      }
    }
  }
  // Nothing but the outputs in the folder: no temporary files left behind.
  int files = 0;
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    CHECK(e.path().filename().string().rfind(".tmp-", 0) != 0);
    ++files;
  }
  CHECK(files == 2 * 2 * 6 * 2);
}

TEST_CASE("NIfTI integer output rounds and clamps", "[io]") {
  test::TempDir tmp;
  auto t = torch::tensor({-5.0f, 300.0f, 12.5f, 12.4f, -0.4f, NAN}).reshape({1, 2, 3});
  const Volume v(t, {1, 1, 1});
  NiftiWriteOptions options;
  options.datatype = NiftiDataType::kUint8;
  write_nifti(v, tmp / "u8.nii", options);
  const Volume r = read_nifti(tmp / "u8.nii");
  // By hand: clamp to [0,255], round half away from zero, NaN -> 0.
  const auto want = torch::tensor({0.0f, 255.0f, 13.0f, 12.0f, 0.0f, 0.0f}).reshape({1, 2, 3});
  CHECK(torch::equal(r.data(), want));

  options.datatype = NiftiDataType::kInt16;
  auto big = torch::tensor({-40000.0f, 40000.0f, -2.5f, 2.5f}).reshape({1, 1, 4});
  write_nifti(Volume(big, {1, 1, 1}), tmp / "i16.nii.gz", options);
  const auto want16 = torch::tensor({-32768.0f, 32767.0f, -3.0f, 3.0f}).reshape({1, 1, 4});
  CHECK(torch::equal(read_nifti(tmp / "i16.nii.gz").data(), want16));
}

TEST_CASE("NIfTI writing refuses to overwrite unless allowed", "[io]") {
  test::TempDir tmp;
  const fs::path path = tmp / "a.nii.gz";
  const Volume first = test_volume(NiftiDataType::kFloat32, oblique_direction(), 7);
  write_nifti(first, path);
  const std::string before = read_file(path);

  const Volume second = test_volume(NiftiDataType::kFloat32, oblique_direction(), 8);
  REQUIRE_THROWS_AS(write_nifti(second, path), IoError);
  try {
    write_nifti(second, path);
  } catch (const IoError& e) {
    CHECK_THAT(e.what(), Catch::Contains(path.string()));
  }
  CHECK(read_file(path) == before);

  NiftiWriteOptions allow;
  allow.overwrite = Overwrite::kAllow;
  write_nifti(second, path, allow);
  CHECK(torch::equal(read_nifti(path).data(), second.data()));
  int files = 0;
  for (const auto& e : fs::directory_iterator(tmp.path())) {
    (void)e;
    ++files;
  }
  CHECK(files == 1);
}

TEST_CASE("NIfTI options: names, data types, version", "[io]") {
  CHECK(is_nifti_path("a/b.nii"));
  CHECK(is_nifti_path("b.nii.gz"));
  CHECK(is_nifti_path("B.NII.GZ"));
  CHECK_FALSE(is_nifti_path("b.gz"));
  CHECK_FALSE(is_nifti_path("b.nii.bak"));
  CHECK_FALSE(is_nifti_path(".nii"));
  CHECK(parse_nifti_datatype("int16") == NiftiDataType::kInt16);
  CHECK(parse_nifti_datatype("float64") == NiftiDataType::kFloat64);
  CHECK(parse_nifti_datatype("uint16") == NiftiDataType::kUint16);
  CHECK(parse_nifti_datatype("AUTO") == NiftiDataType::kAuto);
  CHECK(nifti_datatype_name(NiftiDataType::kUint16) == "uint16");
  REQUIRE_THROWS_AS(parse_nifti_datatype("rgb24"), ValueError);
  try {
    parse_nifti_datatype("rgb24");
  } catch (const ValueError& e) {
    CHECK_THAT(e.what(), Catch::Contains("uint8") && Catch::Contains("float32"));
  }
  const std::string version = nifti_library_version();
  CHECK_THAT(version, Catch::Contains("NIFTI2_IO"));

  test::TempDir tmp;
  const Volume v = test_volume(NiftiDataType::kUint8, oblique_direction(), 3);
  NiftiWriteOptions bad;
  bad.version = 3;
  CHECK_THROWS_AS(write_nifti(v, tmp / "x.nii", bad), ValueError);
  CHECK_THROWS_AS(write_nifti(v, tmp / "x.img", {}), NiftiError);
  NiftiWriteOptions bad_level;
  bad_level.gzip_level = 10;
  CHECK_THROWS_AS(write_nifti(v, tmp / "x.nii.gz", bad_level), ValueError);
  CHECK_THROWS_AS(write_nifti(v, tmp / "missing-folder" / "x.nii", {}), IoError);
}

TEST_CASE("NIfTI reader applies scl_slope and falls back to the qform, then pixdim", "[io]") {
  test::TempDir tmp;
  const Volume v = test_volume(NiftiDataType::kInt16, oblique_direction(), 21);
  NiftiWriteOptions options;
  options.datatype = NiftiDataType::kInt16;
  write_nifti(v, tmp / "base.nii", options);
  const std::string base = read_file(tmp / "base.nii");
  // NIfTI-1 header byte offsets (nifti1.h): scl_slope 112, scl_inter 116 (float32), qform_code
  // 252, sform_code 254 (int16); little-endian as we write it.
  auto patched = [&](const std::string& name, auto edit) {
    std::string raw = base;
    edit(raw);
    write_bytes(tmp / name, raw);
    return read_nifti(tmp / name);
  };
  auto put_float = [](std::string& raw, size_t at, float value) {
    std::memcpy(&raw[at], &value, sizeof(value));
  };

  SECTION("scl_slope / scl_inter: y = 2x - 3") {
    const Volume r = patched("scaled.nii", [&](std::string& raw) {
      put_float(raw, 112, 2.0f);
      put_float(raw, 116, -3.0f);
    });
    CHECK(torch::equal(r.data(), v.data() * 2.0f - 3.0f));
  }
  SECTION("slope 0 means no scaling") {
    const Volume r = patched("slope0.nii", [&](std::string& raw) {
      put_float(raw, 112, 0.0f);
      put_float(raw, 116, 100.0f);
    });
    CHECK(torch::equal(r.data(), v.data()));
  }
  SECTION("sform_code 0: the qform (a float quaternion) gives the same geometry") {
    const Volume r = patched("qform.nii", [](std::string& raw) { raw[254] = raw[255] = 0; });
    for (int a = 0; a < 3; ++a) {
      CHECK(r.spacing_mm()[a] == Approx(v.spacing_mm()[a]).margin(1e-4));
      CHECK(r.origin_lps()[a] == Approx(v.origin_lps()[a]).margin(1e-4));
      for (int c = 0; c < 3; ++c) CHECK(r.direction()[a][c] == Approx(v.direction()[a][c]).margin(1e-4));
    }
    CHECK(r.info().warnings.empty());
  }
  SECTION("no sform or qform: pixdim along RAS axes, with a warning") {
    const Volume r = patched("none.nii", [](std::string& raw) { raw[252] = raw[253] = raw[254] = raw[255] = 0; });
    for (int a = 0; a < 3; ++a) CHECK(r.spacing_mm()[a] == Approx(v.spacing_mm()[a]).margin(1e-6));
    CHECK(r.origin_lps() == Vec3{0, 0, 0});
    CHECK(r.direction() == Mat3{{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}});
    CHECK(r.info().warnings.size() == 1);
    CHECK(torch::equal(r.data(), v.data()));
  }
}

// Reference values below: nibabel 5.0.0 (Debian python3-nibabel 5.0.0-2), obtained with
//   img = nibabel.load(F); img.shape; numpy.diag([-1,-1,1,1]) @ img.affine (RAS -> LPS);
//   img.get_fdata()[i,j,k] at a few voxels (non-zero ones drawn at random, the maximum, the
//   last corner); get_fdata().sum(); (get_fdata() != 0).sum()
// on the files of the python3-nibabel package (scripts/fetch-test-data.sh).

TEST_CASE("NIfTI reads nibabel's big-endian int16 anatomical.nii", "[io]") {
  // Big-endian ('>i2'), NIfTI-1, sform_code = qform_code = 2, scl_slope NaN (no scaling).
  const Volume v = read_nifti(test::data_file("nibabel/anatomical.nii"));
  REQUIRE(v.cols() == 33);
  REQUIRE(v.rows() == 41);
  REQUIRE(v.depth() == 25);
  check_affine(v, {{{2, 0, 0, -32}, {0, -2, 0, 40}, {0, 0, 2, -16}}});
  check_voxels(v, {{0, 0, 0, 10712}, {8, 20, 3, 7811}, {21, 23, 4, 9524}, {23, 24, 17, 7061},
                   {5, 34, 2, 8414}, {17, 23, 0, 30393}, {32, 40, 24, 2971}});
  CHECK(v.data().sum(torch::kFloat64).item<double>() == 284166082.0);
  CHECK(v.data().min().item<float>() == -610.0f);
  CHECK(v.data().max().item<float>() == 30393.0f);
  CHECK(v.data().count_nonzero().item<int64_t>() == 33825);
}

TEST_CASE("NIfTI reads nibabel's big-endian float32 reoriented_anat_moved.nii", "[io]") {
  const Volume v = read_nifti(test::data_file("nibabel/reoriented_anat_moved.nii"));
  REQUIRE(v.cols() == 21);
  REQUIRE(v.rows() == 26);
  REQUIRE(v.depth() == 22);
  check_affine(v, {{{-4, 0, 0, 35.297897338867},
                    {0, -4, 0, 47.977584838867},
                    {0, 0, 4, -27.599409103394}}});
  check_voxels(v, {{7, 7, 12, 10092.150390625}, {11, 14, 16, 5127.66162109375},
                   {13, 12, 3, 6614.67919921875}, {8, 8, 6, 10466.17578125},
                   {12, 15, 4, 21199.935546875}, {20, 25, 21, 0.0}});
  CHECK(v.data().sum(torch::kFloat64).item<double>() == Approx(32739769.449157715).epsilon(1e-9));
  CHECK(v.data().count_nonzero().item<int64_t>() == 3874);
}

TEST_CASE("NIfTI reads nibabel's gzipped uint8 standard.nii.gz (sform only)", "[io]") {
  // sform_code 2, qform_code 0: the geometry must come from the sform.
  const Volume v = read_nifti(test::data_file("nibabel/standard.nii.gz"));
  REQUIRE(v.cols() == 4);
  REQUIRE(v.rows() == 5);
  REQUIRE(v.depth() == 7);
  check_affine(v, {{{-1, 0, 0, 0}, {0, -3, 0, 0}, {0, 0, 2, 0}}});
  check_voxels(v, {{2, 2, 4, 255}, {3, 1, 3, 255}, {1, 2, 4, 255}, {3, 1, 0, 255},
                   {0, 0, 1, 255}, {3, 4, 6, 255}, {0, 0, 3, 0}, {3, 2, 4, 0}});
  CHECK(v.data().sum(torch::kFloat64).item<double>() == 7650.0);
  CHECK(v.data().count_nonzero().item<int64_t>() == 30);
}

TEST_CASE("NIfTI-2: nibabel's example_nifti2.nii.gz", "[io]") {
  const fs::path file = test::data_file("nibabel/example_nifti2.nii.gz");
  // The file is 4D (32x20x12x2): refused, with the count of volumes and the file name.
  try {
    (void)read_nifti(file);
    FAIL("a 4D file with 2 volumes was accepted");
  } catch (const NiftiError& e) {
    CHECK_THAT(e.what(), Catch::Contains(file.string()) && Catch::Contains("2 volumes"));
  }

  // Its first volume, re-saved by nibabel as a 3D NIfTI-2 file (header kept), must match what
  // nibabel reads from the original: an oblique sform, int16.
  test::TempDir tmp;
  const fs::path vol0 = tmp / "vol0.nii.gz";
  const auto out = run_nibabel(
      "import sys, nibabel as nb\n"
      "img = nb.load(sys.argv[1])\n"
      "v = img.slicer[:, :, :, 0]\n"
      "nb.save(v, sys.argv[2])\n"
      "print('sizeof_hdr', int(nb.load(sys.argv[2]).header['sizeof_hdr']))\n",
      {file.string(), vol0.string()});
  REQUIRE(out.at("sizeof_hdr") == std::vector<double>{540});
  const Volume v = read_nifti(vol0);
  REQUIRE(v.cols() == 32);
  REQUIRE(v.rows() == 20);
  REQUIRE(v.depth() == 12);
  check_affine(v, {{{2, 0, 0, -117.855102539062},
                    {0, -1.973711490631, 0.355528235435, 35.722942352295},
                    {0, 0.323207616806, 2.171081781387, -7.248798370361}}});
  check_voxels(v, {{0, 0, 0, 424}, {18, 3, 2, 403}, {11, 19, 0, 503}, {29, 1, 8, 446},
                   {18, 16, 2, 671}, {13, 18, 2, 742}, {31, 19, 11, 484}});
  CHECK(v.data().sum(torch::kFloat64).item<double>() == 3461748.0);
  CHECK(v.data().min().item<float>() == 49.0f);
  CHECK(v.data().max().item<float>() == 742.0f);
}

TEST_CASE("nibabel reads our NIfTI-1 and NIfTI-2 files", "[io]") {
  test::TempDir tmp;
  const std::string script =
      "import sys, numpy as np, nibabel as nb\n"
      "img = nb.load(sys.argv[1])\n"
      "h = img.header\n"
      "def p(k, a): print(k, ' '.join(repr(float(x)) for x in np.ravel(a)))\n"
      "p('sizeof_hdr', h['sizeof_hdr']); p('shape', img.shape)\n"
      "p('codes', [h['sform_code'], h['qform_code']])\n"
      "p('sform', h.get_sform()[:3]); p('qform', h.get_qform()[:3])\n"
      "p('data', np.asarray(img.dataobj).transpose(2, 1, 0))\n";  // to our [k][j][i] order
  struct Case {
    const char* name;
    int version;
    NiftiDataType type;
    Mat3 dir;
  };
  const Case cases[] = {{"a.nii.gz", 1, NiftiDataType::kInt16, oblique_direction()},
                        {"b.nii", 2, NiftiDataType::kFloat32, improper_direction()},
                        {"c.nii", 1, NiftiDataType::kFloat64, improper_direction()}};
  for (const auto& c : cases) {
    INFO(c.name);
    const Volume v = test_volume(c.type, c.dir, 11);
    NiftiWriteOptions options;
    options.version = c.version;
    options.datatype = c.type;
    write_nifti(v, tmp / c.name, options);
    const auto nb = run_nibabel(script, {(tmp / c.name).string()});
    CHECK(nb.at("sizeof_hdr")[0] == (c.version == 1 ? 348 : 540));
    CHECK(nb.at("shape") == std::vector<double>{5, 4, 3});
    CHECK(nb.at("codes") == std::vector<double>{1, 1});
    // Expected RAS affine, from the volume's own geometry: diag(-1,-1,1) * affine_lps().
    const auto lps = v.affine_lps();
    for (int r = 0; r < 3; ++r)
      for (int col = 0; col < 4; ++col) {
        const double want = (r < 2 ? -1 : 1) * lps[r][col];
        INFO("RAS affine[" << r << "][" << col << "]");
        CHECK(nb.at("sform")[r * 4 + col] == Approx(want).margin(1e-5));
        // The qform is a float quaternion in NIfTI-1: a little less precise.
        CHECK(nb.at("qform")[r * 4 + col] == Approx(want).margin(1e-4));
      }
    const auto& data = nb.at("data");
    REQUIRE(static_cast<int64_t>(data.size()) == v.data().numel());
    const float* p = v.data().data_ptr<float>();
    int mismatches = 0;
    for (size_t n = 0; n < data.size(); ++n) mismatches += data[n] != static_cast<double>(p[n]);
    CHECK(mismatches == 0);
  }
}

TEST_CASE("NIfTI read errors name the file and what was expected", "[io]") {
  test::TempDir tmp;
  auto message_of = [](const fs::path& p) -> std::string {
    try {
      (void)read_nifti(p);
    } catch (const NiftiError& e) {
      return e.what();
    }
    FAIL("no NiftiError for " << p);
    return {};
  };

  SECTION("missing file") {
    const fs::path p = tmp / "nothere.nii";
    const std::string m = message_of(p);
    CHECK_THAT(m, Catch::Contains(p.string()) && Catch::Contains("does not exist"));
    // ... even when a same-named .nii.gz exists (nifti_clib would otherwise pick it).
    write_nifti(test_volume(NiftiDataType::kUint8, oblique_direction(), 1), tmp / "nothere.nii.gz");
    CHECK_THAT(message_of(p), Catch::Contains("does not exist"));
  }
  SECTION("text file named .nii") {
    const fs::path p = tmp / "notes.nii";
    write_bytes(p, std::string(400, 'x') + "\nthis is not an image\n");
    CHECK_THAT(message_of(p), Catch::Contains(p.string()) && Catch::Contains("header"));
    const fs::path small = tmp / "short.nii";
    write_bytes(small, "hello\n");
    CHECK_THAT(message_of(small), Catch::Contains(small.string()) && Catch::Contains("too short"));
  }
  SECTION("truncated files") {
    const Volume v = test_volume(NiftiDataType::kFloat32, oblique_direction(), 5);
    write_nifti(v, tmp / "full.nii");
    write_nifti(v, tmp / "full.nii.gz");
    const std::string raw = read_file(tmp / "full.nii");
    REQUIRE(raw.size() == 352 + 60 * 4);  // header + extender, then 3x4x5 float32
    const fs::path cut = tmp / "cut.nii";
    write_bytes(cut, raw.substr(0, 352 + 100));
    const std::string m = message_of(cut);
    CHECK_THAT(m, Catch::Contains(cut.string()) && Catch::Contains("truncated") &&
                      Catch::Contains("240 bytes") && Catch::Contains("452 bytes"));
    const fs::path cut_header = tmp / "cut_header.nii";
    write_bytes(cut_header, raw.substr(0, 200));
    CHECK_THAT(message_of(cut_header), Catch::Contains(cut_header.string()));
    const std::string gz = read_file(tmp / "full.nii.gz");
    const fs::path cut_gz = tmp / "cut.nii.gz";
    write_bytes(cut_gz, gz.substr(0, gz.size() / 2));
    CHECK_THAT(message_of(cut_gz), Catch::Contains(cut_gz.string()));
  }
  SECTION("unsupported datatype") {
    // A valid uint8 file whose header is patched to RGB24 (datatype 128 at byte 70, bitpix 24 at
    // byte 72; NIfTI-1 header layout, little-endian as we write it).
    write_nifti(test_volume(NiftiDataType::kUint8, oblique_direction(), 2), tmp / "u8.nii",
                {1, NiftiDataType::kUint8, Overwrite::kNever});
    std::string raw = read_file(tmp / "u8.nii");
    raw[70] = static_cast<char>(128);
    raw[71] = 0;
    raw[72] = 24;
    raw[73] = 0;
    const fs::path p = tmp / "rgb.nii";
    write_bytes(p, raw);
    CHECK_THAT(message_of(p), Catch::Contains(p.string()) && Catch::Contains("RGB24"));
  }
  SECTION("4D with several volumes") {
    // nibabel's functional.nii is 17x21x3x20.
    const fs::path p = test::data_file("nibabel/functional.nii");
    CHECK_THAT(message_of(p), Catch::Contains(p.string()) && Catch::Contains("20 volumes"));
  }
  SECTION("not a NIfTI name") {
    const fs::path p = tmp / "image.txt";
    write_bytes(p, "x");
    CHECK_THAT(message_of(p), Catch::Contains(p.string()) && Catch::Contains(".nii"));
  }
}

TEST_CASE("NIfTI auto data type stores values losslessly in the fewest bytes", "[io]") {
  test::TempDir tmp;
  struct Case {
    const char* name;
    int version;
    std::function<float(int64_t)> value;  // voxel n -> value
    double rescale_slope, rescale_intercept;  // VolumeInfo, as a DICOM series sets them
    NiftiDataType want;
    double want_slope, want_inter;
  };
  // Voxel n of 60: a seeded pseudo-random integer in [lo, hi], with lo and hi themselves at n = 0, 1.
  auto ints = [](int lo, int hi) {
    return [lo, hi](int64_t n) {
      if (n == 0) return static_cast<float>(lo);
      if (n == 1) return static_cast<float>(hi);
      return static_cast<float>(lo + static_cast<int>((n * 7919) % (hi - lo + 1)));
    };
  };
  const auto ct = ints(-1024, 3071);
  const Case cases[] = {
      {"ct_hu", 1, ct, 1.0, -1024.0, NiftiDataType::kInt16, 1.0, 0.0},
      {"mask", 1, ints(0, 255), 1.0, 0.0, NiftiDataType::kUint8, 1.0, 0.0},
      {"mr_u16", 1, ints(0, 65535), 1.0, 0.0, NiftiDataType::kUint16, 1.0, 0.0},
      {"wide", 1, ints(-40000, 100), 1.0, 0.0, NiftiDataType::kFloat32, 1.0, 0.0},
      // Philips-style rescale: values 2.5 x - 10 for stored x; kept as x with scl_slope/scl_inter.
      {"rescaled", 1, [&](int64_t n) { return static_cast<float>(2.5 * ct(n) - 10.0); }, 2.5, -10.0,
       NiftiDataType::kInt16, 2.5, -10.0},
      // A slope float32 cannot hold exactly: only NIfTI-2 (float64 scl_slope) reproduces the values.
      {"slope_0.1_v2", 2, [&](int64_t n) { return static_cast<float>(0.1 * ct(n) + 5.0); }, 0.1, 5.0,
       NiftiDataType::kInt16, 0.1, 5.0},
      // The rescale does not explain these values (not multiples of 2.5 from -10): float32.
      {"not_rescaled", 1, [&](int64_t n) { return static_cast<float>(ct(n)) + 0.25f; }, 2.5, -10.0,
       NiftiDataType::kFloat32, 1.0, 0.0},
      {"fraction", 1, [](int64_t n) { return n == 5 ? 0.5f : 1.0f; }, 1.0, 0.0, NiftiDataType::kFloat32, 1.0, 0.0},
      {"nan", 1, [](int64_t n) { return n == 5 ? NAN : 1.0f; }, 1.0, 0.0, NiftiDataType::kFloat32, 1.0, 0.0},
  };
  for (const auto& c : cases) {
    auto t = torch::empty({3, 4, 5});
    for (int64_t n = 0; n < 60; ++n) t.data_ptr<float>()[n] = c.value(n);
    VolumeInfo info;
    info.rescale_slope = c.rescale_slope;
    info.rescale_intercept = c.rescale_intercept;
    const Volume v(t, {2.5, 0.7, 1.3}, {-12.5, 30.3, 101.3}, oblique_direction(), info);
    for (const std::string ext : {".nii", ".nii.gz"}) {
      const fs::path path = tmp / (std::string(c.name) + ext);
      INFO(path.filename().string());
      NiftiWriteOptions o;
      o.version = c.version;
      o.datatype = NiftiDataType::kAuto;
      const NiftiWriteResult r = write_nifti(v, path, o);
      CHECK(r.datatype == c.want);
      CHECK(r.scl_slope == Approx(c.want_slope).epsilon(1e-7));
      CHECK(r.scl_inter == Approx(c.want_inter).epsilon(1e-7));
      const int64_t nb = c.want == NiftiDataType::kUint8 ? 1 : c.want == NiftiDataType::kFloat32 ? 4 : 2;
      const size_t header = c.version == 1 ? 352 : 544;
      CHECK(r.bytes == fs::file_size(path));
      const std::string bytes = read_prefix(path, 1 << 16);
      REQUIRE(bytes.size() == header + 60 * nb);
      // datatype code (nifti1.h: uint8 2, int16 4, float32 16, uint16 512): NIfTI-1 byte 70
      // (int16), NIfTI-2 byte 12 (int16).
      const int code = static_cast<unsigned char>(bytes[c.version == 1 ? 70 : 12]) |
                       (static_cast<unsigned char>(bytes[c.version == 1 ? 71 : 13]) << 8);
      const int want_code = c.want == NiftiDataType::kUint8 ? 2 : c.want == NiftiDataType::kInt16 ? 4
                            : c.want == NiftiDataType::kUint16 ? 512 : 16;
      CHECK(code == want_code);
      // The file holds the values bit for bit (NaN included) ...
      if (c.want == NiftiDataType::kFloat32) {
        CHECK(std::memcmp(bytes.data() + header, v.data().data_ptr<float>(), 60 * 4) == 0);
      }
      // ... and read_nifti() gives them back, but for NaN: niftilib's reader turns non-finite
      // floats into 0 (FIXED_FLOAT in nifti_read_buffer).
      const Volume back = read_nifti(path);
      const auto want = torch::where(v.data().isnan(), torch::zeros_like(v.data()), v.data());
      CHECK(torch::equal(back.data(), want));
      check_same_geometry(back, v);
    }
  }
}

TEST_CASE("NIfTI auto data type checks every voxel, the last ones too", "[io]") {
  // Seven voxels: the integer check runs four at a time and then one by one; a non-integer in
  // either part, or -2^31 (what a failed float -> int conversion yields), must not pass.
  test::TempDir tmp;
  NiftiWriteOptions o;
  o.datatype = NiftiDataType::kAuto;
  auto type_of = [&](std::vector<float> values, const char* name) {
    const Volume v(torch::tensor(values).reshape({1, 1, 7}), {1, 1, 1});
    const NiftiWriteResult r = write_nifti(v, tmp / name, o);
    const Volume back = read_nifti(tmp / name);
    // niftilib reads non-finite floats as 0.
    CHECK(torch::equal(back.data(), torch::where(v.data().isfinite(), v.data(), torch::zeros_like(v.data()))));
    return r.datatype;
  };
  CHECK(type_of({1, 2, 3, 4, 5, 6, -7}, "a.nii") == NiftiDataType::kInt16);
  CHECK(type_of({1, 2, 3, 4, 5, 6, 7.5f}, "b.nii") == NiftiDataType::kFloat32);
  CHECK(type_of({1, 2, 3, 4, 5, 6, NAN}, "c.nii") == NiftiDataType::kFloat32);
  CHECK(type_of({1, NAN, 3, 4, 5, 6, 7}, "d.nii") == NiftiDataType::kFloat32);
  CHECK(type_of({1, 2, INFINITY, 4, 5, 6, 7}, "e.nii") == NiftiDataType::kFloat32);
  CHECK(type_of({1, 2, 3, -2147483648.0f, 5, 6, 7}, "f.nii") == NiftiDataType::kFloat32);
  CHECK(type_of({1, 2, 3, 4, 5, 6, 70000}, "g.nii") == NiftiDataType::kFloat32);
  CHECK(type_of({0, 2, 3, 4, 5, 6, 65535}, "h.nii") == NiftiDataType::kUint16);
  CHECK(type_of({0, 2, 3, 255, 5, 6, 7}, "i.nii") == NiftiDataType::kUint8);
}

TEST_CASE("nibabel reads auto-typed and multi-block compressed NIfTI exactly", "[io]") {
  test::TempDir tmp;
  const std::string script =
      "import sys, numpy as np, nibabel as nb\n"
      "img = nb.load(sys.argv[1])\n"
      "def p(k, a): print(k, ' '.join(repr(float(x)) for x in np.ravel(a)))\n"
      "p('code', [img.header['datatype']])\n"
      // Our [k][j][i] float32 values, raw, compared in Python (printing 368k voxels is slow).
      "want = np.fromfile(sys.argv[2], dtype='<f4').reshape(img.shape[::-1]).transpose(2, 1, 0)\n"
      "got = img.get_fdata(dtype=np.float64)\n"
      "p('shape', got.shape)\n"
      "p('mismatches', [np.count_nonzero(got != want.astype(np.float64))])\n";
  // 40x96x96 int16 = 720 KiB: three of the writer's 256 KiB gzip blocks.
  torch::manual_seed(3);
  auto hu = torch::randint(-1024, 3072, {40, 96, 96}).to(torch::kFloat32);
  VolumeInfo info;
  info.rescale_slope = 0.5;
  info.rescale_intercept = -100;
  const Volume ct(hu, {1.0, 0.6, 0.6}, {0, 0, 0}, identity_direction());
  const Volume scaled(hu * 0.5f - 100.0f, {1.0, 0.6, 0.6}, {0, 0, 0}, identity_direction(), info);
  struct Case {
    const char* name;
    const Volume* volume;
    int threads, level;
    double code;
  };
  const Case cases[] = {{"ct1.nii.gz", &ct, 1, 6, 4},
                        {"ct3.nii.gz", &ct, 3, 6, 4},
                        {"ct_fast.nii.gz", &ct, 2, 1, 4},
                        {"scaled.nii.gz", &scaled, 2, 6, 4},
                        {"scaled.nii", &scaled, 2, 6, 4}};
  for (const auto& c : cases) {
    INFO(c.name);
    NiftiWriteOptions o;
    o.datatype = NiftiDataType::kAuto;
    o.threads = c.threads;
    o.gzip_level = c.level;
    write_nifti(*c.volume, tmp / c.name, o);
    const fs::path expected = tmp / "expected.f32";
    write_bytes(expected, std::string(reinterpret_cast<const char*>(c.volume->data().data_ptr<float>()),
                                      static_cast<size_t>(c.volume->data().numel()) * 4));
    const auto nb = run_nibabel(script, {(tmp / c.name).string(), expected.string()});
    CHECK(nb.at("code") == std::vector<double>{c.code});
    CHECK(nb.at("shape") == std::vector<double>{96, 96, 40});
    CHECK(nb.at("mismatches") == std::vector<double>{0});
    CHECK(torch::equal(read_nifti(tmp / c.name).data(), c.volume->data()));
  }
  // The compressed stream does not depend on the thread count.
  CHECK(read_file(tmp / "ct1.nii.gz") == read_file(tmp / "ct3.nii.gz"));
}
