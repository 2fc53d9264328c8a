// Hostile inputs: headers that claim more than the file holds are refused before anything is
// allocated, with the file, the tag or field, the value and what was expected (issue 18).
#include <catch2/catch.hpp>
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <torch/torch.h>

#include <cstring>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/gzip.hpp"
#include "tomograd/io/limits.hpp"
#include "tomograd/io/nifti.hpp"

using namespace tomograd;
using namespace tomograd::io;
namespace fs = std::filesystem;

namespace {

Volume small_ct(int64_t depth = 1) {
  torch::manual_seed(3);
  return Volume(torch::randint(-1000, 1000, {depth, 12, 10}).to(torch::kFloat32), {2.0, 0.5, 0.5});
}

// One slice written by our writer, then with attributes overwritten by DCMTK.
fs::path patched_dicom(const fs::path& dir, DicomEncoding encoding,
                       const std::vector<std::pair<DcmTagKey, std::string>>& values) {
  DicomWriteOptions o;
  o.encoding = encoding;
  const fs::path file = write_dicom_series(small_ct(), dir, o).at(0);
  DcmFileFormat ff;
  REQUIRE(ff.loadFile(file.c_str()).good());
  for (const auto& [tag, value] : values) {
    DcmDataset& ds = *ff.getDataset();
    if (DcmTag(tag).getEVR() == EVR_US) {
      REQUIRE(ds.putAndInsertUint16(tag, static_cast<Uint16>(std::stoi(value))).good());
    } else {
      REQUIRE(ds.putAndInsertOFStringArray(tag, value.c_str()).good());
    }
  }
  REQUIRE(ff.saveFile(file.c_str(), ff.getDataset()->getOriginalXfer()).good());
  return file;
}

// Restores the allocation limit when a test section ends.
struct ImageLimit {
  explicit ImageLimit(std::uint64_t bytes) { set_max_image_bytes(bytes); }
  ~ImageLimit() { set_max_image_bytes(0); }
};

template <typename T>
void poke(std::string& bytes, std::size_t offset, T value) {
  std::memcpy(bytes.data() + offset, &value, sizeof value);
}

}  // namespace

TEST_CASE("a DICOM file claiming 65535 x 65535 pixels x 65535 frames is refused before allocation", "[io]") {
  test::TempDir tmp;
  const fs::path file = patched_dicom(tmp / "a", DicomEncoding::kExplicitLittle,
                                      {{DCM_Rows, "65535"}, {DCM_Columns, "65535"}, {DCM_NumberOfFrames, "65535"}});
  CHECK_THROWS_AS(read_dicom(file), DicomError);
  CHECK_THROWS_WITH(read_dicom(file), Catch::Contains(file.string()) &&
                                          Catch::Contains("Rows 65535 x Columns 65535 x NumberOfFrames 65535") &&
                                          Catch::Contains("need 512.0 TiB of pixel data, but the file has"));
  // In a folder with a good series beside it, the bad file is skipped (and logged), the rest read.
  write_dicom_series(small_ct(3), tmp / "a" / "good");
  CHECK(read_dicom(tmp / "a", "", {}).depth() == 3);
}

TEST_CASE("DICOM sizes outside the VR's range and encapsulated frame counts are checked", "[io]") {
  test::TempDir tmp;
  const fs::path zero = patched_dicom(tmp / "z", DicomEncoding::kExplicitLittle, {{DCM_Columns, "0"}});
  CHECK_THROWS_WITH(read_dicom(zero), Catch::Contains("Rows 12, Columns 0: expected 1..65535 each"));
  // RLE: every frame needs at least one 8-byte item, so 60000 frames cannot fit in ~1 KiB...
  const fs::path many = patched_dicom(tmp / "m", DicomEncoding::kRle, {{DCM_NumberOfFrames, "60000"}});
  CHECK_THROWS_WITH(read_dicom(many), Catch::Contains(many.string()) &&
                                          Catch::Contains("NumberOfFrames 60000 needs at least 468.8 KiB"));
  // ...and 3 frames in one fragment are refused before DCMTK's decoder allocates them.
  const fs::path three = patched_dicom(tmp / "t", DicomEncoding::kRle, {{DCM_NumberOfFrames, "3"}});
  CHECK_THROWS_WITH(read_dicom(three), Catch::Contains(three.string()) &&
                                           Catch::Contains("NumberOfFrames 3 but the encapsulated PixelData has 1 "
                                                           "fragment(s)"));
}

TEST_CASE("readers never allocate more than max_image_bytes()", "[io]") {
  test::TempDir tmp;
  write_dicom_series(small_ct(6), tmp / "s");
  write_nifti(small_ct(6), tmp / "v.nii.gz");
  CHECK(max_image_bytes() > (std::uint64_t{1} << 28));  // physical memory by default
  ImageLimit limit(1000);  // 6 x 12 x 10 float32 voxels are 2880 bytes
  CHECK_THROWS_WITH(read_dicom(tmp / "s"), Catch::Contains("6 slices of 12x10 pixels need 2.8 KiB as float32, "
                                                           "more than the 1000 bytes a reader may allocate"));
  CHECK_THROWS_WITH(read_nifti(tmp / "v.nii.gz"), Catch::Contains("v.nii.gz") && Catch::Contains("dim 10x12x6") &&
                                                      Catch::Contains("more than the 1000 bytes"));
}

TEST_CASE("NIfTI dims are checked against the file size, and a .nii.gz is never inflated to learn it", "[io]") {
  test::TempDir tmp;
  write_nifti(small_ct(2), tmp / "v.nii");
  std::string bytes = read_file(tmp / "v.nii");
  for (int d = 1; d <= 3; ++d) poke<int16_t>(bytes, 40 + 2 * d, 32767);  // NIfTI-1 dim[1..3]
  write_file_atomic(tmp / "big.nii", bytes);
  CHECK_THROWS_AS(read_nifti(tmp / "big.nii"), NiftiError);
  CHECK_THROWS_WITH(read_nifti(tmp / "big.nii"),
                    Catch::Contains("big.nii") && Catch::Contains("dim 32767x32767x32767 of float32") &&
                        Catch::Contains("needs 128.0 TiB, but the file has 1.3 KiB"));
  // The same header gzipped: a few hundred bytes of gzip can never inflate to 128 TiB.
  write_file_atomic(tmp / "big.nii.gz", gzip_compress(bytes));
  CHECK_THROWS_WITH(read_nifti(tmp / "big.nii.gz"),
                    Catch::Contains("big.nii.gz") && Catch::Contains("of gzip data, which inflates to at most"));
  // NIfTI-2's int64 dims: a product beyond 64 bits is reported, not wrapped.
  NiftiWriteOptions v2;
  v2.version = 2;
  write_nifti(small_ct(2), tmp / "v2.nii", v2);
  std::string bytes2 = read_file(tmp / "v2.nii");
  for (int d = 1; d <= 3; ++d) poke<int64_t>(bytes2, 16 + 8 * d, int64_t{1} << 40);
  write_file_atomic(tmp / "huge2.nii", bytes2);
  CHECK_THROWS_WITH(read_nifti(tmp / "huge2.nii"), Catch::Contains("huge2.nii") && Catch::Contains("more than 2^64"));
  // A file with fewer voxel bytes than declared (truncated by one byte) is still named as such.
  write_file_atomic(tmp / "short.nii", read_file(tmp / "v.nii").substr(0, 352 + 2 * 12 * 10 * 4 - 1));
  CHECK_THROWS_WITH(read_nifti(tmp / "short.nii"), Catch::Contains("short.nii") && Catch::Contains("but the file has"));
}

TEST_CASE("NIfTI dims of 0 beyond dim[3] count as 1, as nifti_clib reads them, in the size check", "[io]") {
  // Found by fuzz_nifti in CI: dim = 6,1,1,10^9,0,0,0. nifti_clib repairs the zeros to 1 and
  // callocs 4 GB for 10^9 float32 voxels; counted as 0 the pre-check had let it through.
  test::TempDir tmp;
  NiftiWriteOptions v2;
  v2.version = 2;
  write_nifti(small_ct(2), tmp / "v2.nii", v2);
  std::string bytes = read_file(tmp / "v2.nii");
  poke<int64_t>(bytes, 16, 6);
  const int64_t dims[] = {1, 1, 1000000000, 0, 0, 0};
  for (int d = 1; d <= 6; ++d) poke<int64_t>(bytes, 16 + 8 * d, dims[d - 1]);
  write_file_atomic(tmp / "zeros.nii", bytes);
  CHECK_THROWS_WITH(read_nifti(tmp / "zeros.nii"),
                    Catch::Contains("zeros.nii") && Catch::Contains("dim 1x1x1000000000x0x0x0") &&
                        Catch::Contains("needs 3.7 GiB, but the file has"));
}

TEST_CASE("YAML configs: deep nesting, non-scalar keys and huge files give ConfigErrors", "[io]") {
  CHECK_THROWS_AS(parse_yaml_text(std::string(100000, '['), "deep.yaml"), ConfigError);
  CHECK_THROWS_WITH(parse_yaml_text("- 1\n- 2\n", "list.yaml"), Catch::Contains("list.yaml: expected a map"));
  ConfigReader reader(parse_yaml_text("? [a, b]\n: 1\n", "key.yaml"), "key.yaml");
  CHECK_THROWS_AS(reader.finish(), ConfigError);
  CHECK_THROWS_WITH(reader.finish(), Catch::Contains("key.yaml: unknown key"));
  test::TempDir tmp;
  write_file_atomic(tmp / "big.yaml", "a: 1\n");
  fs::resize_file(tmp / "big.yaml", (std::uintmax_t{16} << 20) + 1);
  CHECK_THROWS_WITH(load_yaml_file(tmp / "big.yaml"), Catch::Contains("big.yaml") && Catch::Contains("at most 16 MiB"));
}
