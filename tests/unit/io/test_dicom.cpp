#include <catch2/catch.hpp>
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <torch/torch.h>

#include <cmath>
#include <fstream>

#include "support/checks.hpp"
#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/dicom.hpp"

using namespace tomograd;
using namespace tomograd::io;
namespace fs = std::filesystem;

namespace {

// A seeded integer-valued CT phantom: air, a body disc and a bright sphere.
Volume phantom(int64_t d = 6, int64_t h = 12, int64_t w = 10, uint64_t seed = 7) {
  torch::manual_seed(seed);
  auto t = torch::randint(-1000, 2000, {d, h, w}).to(torch::kFloat32);
  Mat3 dir{{{1, 0, 0}, {0, 0.8, -0.6}, {0, 0.6, 0.8}}};  // oblique: rotated about L
  VolumeInfo info;
  info.series_description = "phantom";
  return Volume(t, {2.5, 0.7, 0.9}, {-10.0, 20.5, 33.25}, dir, info);
}

fs::path pydicom(const std::string& name) { return test::data_file("pydicom/" + name); }

}  // namespace

TEST_CASE("DICOM write/read round trip is exact in every encoding", "[io]") {
  Volume v = phantom();
  for (const std::string enc : {"explicit-little", "implicit-little", "explicit-big", "deflated", "rle",
                                "jpeg-lossless", "jpeg-ls-lossless"}) {
    SECTION(enc) {
      test::TempDir tmp;
      DicomWriteOptions o;
      o.encoding = parse_dicom_encoding(enc);
      auto files = write_dicom_series(v, tmp.path(), o);
      REQUIRE(files.size() == 6);
      Volume r = read_dicom(tmp.path());
      REQUIRE(r.data().sizes() == v.data().sizes());
      CHECK(torch::equal(r.data(), v.data()));
      test::check_same_geometry(r, v, 1e-4);
      CHECK(r.info().modality == "CT");
      CHECK(r.info().series_description == "phantom");
      CHECK(r.info().instance_numbers == std::vector<int>{1, 2, 3, 4, 5, 6});
      CHECK(r.info().warnings.empty());
    }
  }
  CHECK_THROWS_WITH(parse_dicom_encoding("jpeg2000"), Catch::Contains("rle"));
}

// DCMTK 3.6.7's "cooked" JPEG-LS encoder writes past its output buffer for small images (valgrind:
// DJLSEncoderBase::fixPaddingIfNecessary, 23 bytes after a 40-byte block for 4 x 5 pixels); the
// writer registers the raw encoder. ctest also runs this case under valgrind
// (tests_io_jpegls_valgrind), where the old registration fails it.
TEST_CASE("JPEG-LS writes images down to 1 x 1 pixel exactly, inside DCMTK's buffers", "[io][jpegls]") {
  const std::vector<std::pair<int64_t, int64_t>> sizes{{1, 1}, {4, 5}, {3, 7}, {16, 16}, {33, 2}};
  for (const auto& [h, w] : sizes) {
    INFO(h << " x " << w);
    Volume v = phantom(2, h, w, static_cast<uint64_t>(h * 100 + w));
    test::TempDir tmp;
    DicomWriteOptions o;
    o.encoding = DicomEncoding::kJpegLsLossless;
    REQUIRE(write_dicom_series(v, tmp.path(), o).size() == 2);
    Volume r = read_dicom(tmp.path());
    REQUIRE(r.data().sizes() == v.data().sizes());
    CHECK(torch::equal(r.data(), v.data()));
  }
}

TEST_CASE("DICOM writer chooses a rescale for non-integer values", "[io]") {
  test::TempDir tmp;
  auto t = torch::linspace(-0.5, 3.25, 2 * 4 * 4).reshape({2, 4, 4});
  Volume v(t, {1, 1, 1});
  DicomWriteOptions o;
  o.modality = "MR";
  write_dicom_series(v, tmp.path(), o);
  Volume r = read_dicom(tmp.path());
  // Quantization error is at most half a step of the chosen slope.
  double step = (3.25 + 0.5) / 65534.0;
  CHECK((r.data() - v.data()).abs().max().item<double>() <= step);
  CHECK(r.info().modality == "MR");
}

TEST_CASE("DICOM reader sorts by position whatever the file order", "[io]") {
  test::TempDir tmp;
  Volume v = phantom();
  auto files = write_dicom_series(v, tmp / "s");
  // Rename so the alphabetical order is reversed and instance numbers no longer help either.
  for (std::size_t i = 0; i < files.size(); ++i) {
    fs::rename(files[i], tmp / "s" / ("z" + std::to_string(100 - i) + ".dcm"));
  }
  Volume r = read_dicom(tmp / "s");
  CHECK(torch::equal(r.data(), v.data()));
  test::check_same_geometry(r, v, 1e-4);
}

TEST_CASE("DICOM scan lists every series of a folder and selects one", "[io]") {
  test::TempDir tmp;
  Volume a = phantom(3, 8, 8, 1), b = phantom(4, 8, 6, 2);
  DicomWriteOptions oa, ob;
  oa.series_description = "T1 SAG";
  oa.series_number = 1;
  ob.series_description = "T2 AX";
  ob.series_number = 2;
  write_dicom_series(a, tmp / "mixed", oa);
  // Second series into the same folder under other names.
  test::TempDir tmp2;
  for (const auto& f : write_dicom_series(b, tmp2.path(), ob)) {
    fs::copy_file(f, tmp / "mixed" / ("b_" + f.filename().string()));
  }
  // A text file and a non-image DICOM object are skipped.
  write_file_atomic(tmp / "mixed" / "notes.txt", "not a dicom file\n");
  {
    DcmFileFormat ff;
    ff.getDataset()->putAndInsertString(DCM_SOPClassUID, UID_BasicTextSRStorage);
    ff.getDataset()->putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4");
    ff.getDataset()->putAndInsertString(DCM_SeriesInstanceUID, "1.2.3.5");
    ff.getDataset()->putAndInsertString(DCM_Modality, "SR");
    REQUIRE(ff.saveFile((tmp / "mixed" / "report.dcm").c_str(), EXS_LittleEndianExplicit).good());
  }
  auto series = scan_dicom(tmp / "mixed");
  REQUIRE(series.size() == 2);
  CHECK(series[0].info.series_description == "T1 SAG");
  CHECK(series[0].frames.size() == 3);
  CHECK(series[1].frames.size() == 4);
  CHECK(select_series(series, "T2 AX").info.series_uid == series[1].info.series_uid);
  CHECK(select_series(series, "1").info.series_description == "T2 AX");
  CHECK(select_series(series, series[0].info.series_uid).frames.size() == 3);
  CHECK_THROWS_WITH(select_series(series, ""), Catch::Contains("2 series") && Catch::Contains("T1 SAG"));
  CHECK_THROWS_WITH(select_series(series, "T3"), Catch::Contains("no series matches 'T3'"));
  CHECK_THROWS_AS(read_dicom(tmp / "mixed"), DicomError);
  Volume r = read_dicom(tmp / "mixed", "T2 AX");
  CHECK(torch::equal(r.data(), b.data()));
}

TEST_CASE("DICOM reader warns about missing and duplicate slices, errors when strict", "[io]") {
  Volume v = phantom(6, 8, 8);
  SECTION("missing slice") {
    test::TempDir tmp;
    auto files = write_dicom_series(v, tmp.path());
    fs::remove(files[3]);
    Volume r = read_dicom(tmp.path());
    CHECK(r.depth() == 5);
    CHECK(r.spacing_mm()[0] == Approx(2.5));
    REQUIRE(r.info().warnings.size() == 1);
    CHECK_THAT(r.info().warnings[0], Catch::Contains("missing slice"));
    DicomReadOptions strict;
    strict.strict = true;
    CHECK_THROWS_WITH(read_dicom(tmp.path(), "", strict), Catch::Contains("missing slice"));
  }
  SECTION("duplicate slice") {
    test::TempDir tmp;
    auto files = write_dicom_series(v, tmp.path());
    fs::copy_file(files[2], tmp / "copy.dcm");
    Volume r = read_dicom(tmp.path());
    CHECK(r.depth() == 6);
    CHECK(torch::equal(r.data(), v.data()));
    REQUIRE(r.info().warnings.size() == 1);
    CHECK_THAT(r.info().warnings[0], Catch::Contains("duplicate slice position"));
    DicomReadOptions strict;
    strict.strict = true;
    CHECK_THROWS_AS(read_dicom(tmp.path(), "", strict), DicomError);
  }
}

TEST_CASE("DICOM reader gives clear errors for bad input", "[io]") {
  test::TempDir tmp;
  fs::create_directories(tmp / "empty");
  CHECK_THROWS_WITH(read_dicom(tmp / "empty"), Catch::Contains("no files found") && Catch::Contains("empty"));
  fs::create_directories(tmp / "text");
  write_file_atomic(tmp / "text" / "a.txt", "hello\n");
  write_file_atomic(tmp / "text" / "b.csv", "patient_id,label\n1,0\n");
  CHECK_THROWS_WITH(read_dicom(tmp / "text"), Catch::Contains("no DICOM image found") && Catch::Contains("2 file"));
  CHECK_THROWS_AS(read_dicom(tmp / "does-not-exist"), IoError);

  // Truncated: cut a file in the middle of its pixel data.
  Volume v = phantom(2, 16, 16);
  auto files = write_dicom_series(v, tmp / "trunc");
  std::string bytes = read_file(files[1]);
  write_file_atomic(files[1], bytes.substr(0, bytes.size() - 200), Overwrite::kAllow);
  CHECK_THROWS_WITH(read_dicom(tmp / "trunc"), Catch::Contains(files[1].filename().string()));
}

TEST_CASE("DICOM reader sorts enhanced multi-frame objects by per-frame position", "[io]") {
  test::TempDir tmp;
  // Three frames stored in the order z = 4, 0, 2 with per-frame rescale slopes; shared pixel
  // measures and orientation (PS3.3 C.7.6.16).
  DcmFileFormat ff;
  DcmDataset& ds = *ff.getDataset();
  ds.putAndInsertString(DCM_SOPClassUID, UID_EnhancedMRImageStorage);
  ds.putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.2.1125.1");
  ds.putAndInsertString(DCM_SeriesInstanceUID, "1.2.826.0.1.3680043.2.1125.2");
  ds.putAndInsertString(DCM_Modality, "MR");
  ds.putAndInsertString(DCM_NumberOfFrames, "3");
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds.putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2");
  ds.putAndInsertUint16(DCM_Rows, 2);
  ds.putAndInsertUint16(DCM_Columns, 3);
  ds.putAndInsertUint16(DCM_BitsAllocated, 16);
  ds.putAndInsertUint16(DCM_BitsStored, 12);
  ds.putAndInsertUint16(DCM_HighBit, 11);
  ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
  DcmItem* shared = nullptr;
  REQUIRE(ds.findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0).good());
  DcmItem* m = nullptr;
  shared->findOrCreateSequenceItem(DCM_PixelMeasuresSequence, m, 0);
  m->putAndInsertString(DCM_PixelSpacing, "0.5\\0.25");
  m->putAndInsertString(DCM_SliceThickness, "2");
  shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, m, 0);
  m->putAndInsertString(DCM_ImageOrientationPatient, "1\\0\\0\\0\\1\\0");
  const double z[3] = {4, 0, 2};
  const double slope[3] = {1, 2, 3};
  for (int f = 0; f < 3; ++f) {
    DcmItem* item = nullptr;
    ds.findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, item, f);
    item->findOrCreateSequenceItem(DCM_PlanePositionSequence, m, 0);
    m->putAndInsertString(DCM_ImagePositionPatient, ("0\\0\\" + std::to_string(z[f])).c_str());
    item->findOrCreateSequenceItem(DCM_PixelValueTransformationSequence, m, 0);
    m->putAndInsertString(DCM_RescaleSlope, std::to_string(slope[f]).c_str());
    m->putAndInsertString(DCM_RescaleIntercept, "-5");
  }
  // Stored values: frame f holds 10*f + pixel index, plus garbage in the 4 unused high bits
  // that BitsStored = 12 must mask off.
  std::vector<Uint16> pix;
  for (int f = 0; f < 3; ++f)
    for (int p = 0; p < 6; ++p) pix.push_back(static_cast<Uint16>(0xF000 | (10 * f + p)));
  ds.putAndInsertUint16Array(DCM_PixelData, pix.data(), static_cast<unsigned long>(pix.size()));
  REQUIRE(ff.saveFile((tmp / "enhanced.dcm").c_str(), EXS_LittleEndianExplicit).good());

  Volume r = read_dicom(tmp / "enhanced.dcm");
  REQUIRE(r.depth() == 3);
  CHECK(r.spacing_mm()[0] == Approx(2.0));
  CHECK(r.spacing_mm()[1] == Approx(0.5));
  CHECK(r.spacing_mm()[2] == Approx(0.25));
  CHECK(r.origin_lps()[2] == Approx(0.0));
  // Slice k=0 is frame 1 (z=0, slope 2), k=1 frame 2 (z=2, slope 3), k=2 frame 0 (z=4, slope 1).
  const int frame_of_slice[3] = {1, 2, 0};
  for (int k = 0; k < 3; ++k) {
    int f = frame_of_slice[k];
    for (int p = 0; p < 6; ++p) {
      float expect = static_cast<float>((10 * f + p) * slope[f] - 5);
      REQUIRE(r.data()[k][p / 3][p % 3].item<float>() == expect);
    }
  }
}

TEST_CASE("pydicom's MR_small in every transfer syntax decodes to identical pixels", "[io]") {
  Volume ref = read_dicom(pydicom("MR_small.dcm"));
  REQUIRE(ref.depth() == 1);
  REQUIRE(ref.rows() == 64);
  REQUIRE(ref.cols() == 64);
  // Known answers from pydicom 2.3.1 (Debian python3-pydicom): pixel_array sum 2125338,
  // [10,20] = 316, [32,32] = 182; PixelSpacing 0.3125.
  CHECK(ref.data().sum().item<double>() == 2125338.0);
  CHECK(ref.data()[0][10][20].item<float>() == 316.0f);
  CHECK(ref.data()[0][32][32].item<float>() == 182.0f);
  CHECK(ref.spacing_mm()[1] == Approx(0.3125));
  for (const std::string name :
       {"MR_small_implicit.dcm", "MR_small_bigendian.dcm", "MR_small_expb.dcm", "MR_small_RLE.dcm",
        "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm", "MR_small_padded.dcm"}) {
    INFO(name);
    Volume v = read_dicom(pydicom(name));
    REQUIRE(v.data().sizes() == ref.data().sizes());
    CHECK(torch::equal(v.data(), ref.data()));
  }
}

TEST_CASE("pydicom's CT_small reads as HU matching pydicom", "[io]") {
  Volume ct = read_dicom(pydicom("CT_small.dcm"));
  REQUIRE(ct.rows() == 128);
  // Reference: pydicom 2.3.1 (Debian python3-pydicom), pixel_array * RescaleSlope (1) +
  // RescaleIntercept (-1024), indexed [row, col].
  CHECK(ct.data()[0][0][0].item<float>() == -849.0f);
  CHECK(ct.data()[0][10][20].item<float>() == -839.0f);
  CHECK(ct.data()[0][32][32].item<float>() == -537.0f);
  CHECK(ct.data()[0][63][63].item<float>() == 819.0f);
  CHECK(ct.data()[0][40][5].item<float>() == -829.0f);
  CHECK(ct.data().sum().item<double>() == -1950906.0);
  CHECK(ct.origin_lps()[0] == Approx(-158.135803));
  CHECK(ct.spacing_mm()[2] == Approx(0.661468));
  CHECK(ct.info().modality == "CT");
}

TEST_CASE("pydicom's deflated and multi-frame files decode like pydicom", "[io]") {
  // pydicom 2.3.1: image_dfl.dcm uint8 512x512, sum 33322688.
  Volume dfl = read_dicom(pydicom("image_dfl.dcm"));
  CHECK(dfl.data().sum().item<double>() == 33322688.0);
  // rtdose*.dcm: 15 frames of 10x10 uint32 (GridFrameOffsetVector 0, 5, 10, ...),
  // sum 1519910000, [0,0,0] = 1249000, [7,3,4] = 1074000 in every encoding.
  for (const std::string name : {"rtdose.dcm", "rtdose_expb.dcm", "rtdose_rle.dcm"}) {
    INFO(name);
    Volume d = read_dicom(pydicom(name));
    REQUIRE(d.depth() == 15);
    CHECK(d.data().to(torch::kFloat64).sum().item<double>() == 1519910000.0);
    CHECK(d.data()[0][0][0].item<float>() == 1249000.0f);
    CHECK(d.data()[7][3][4].item<float>() == 1074000.0f);
    CHECK(d.spacing_mm()[0] == Approx(5.0));
  }
}

TEST_CASE("colour and undecodable images give clear errors", "[io]") {
  CHECK_THROWS_WITH(read_dicom(pydicom("SC_rgb_rle.dcm")),
                    Catch::Contains("colour image") && Catch::Contains("SC_rgb_rle.dcm"));
  CHECK_THROWS_WITH(read_dicom(pydicom("MR_truncated.dcm")), Catch::Contains("MR_truncated.dcm"));
}

TEST_CASE("DICOMDIR input lists the referenced series", "[io]") {
  // pydicom 2.3.1 on the same DICOMDIR: 31 IMAGE records referencing files of 13 series.
  auto series = scan_dicom(pydicom("dicomdirtests/DICOMDIR"));
  CHECK(series.size() == 13);
  std::size_t instances = 0;
  for (const auto& s : series) instances += s.instances.size();
  CHECK(instances == 31);
}

TEST_CASE("JPEG extended (12-bit lossy) and JPEG 2000 files decode", "[io]") {
  // Reference: DCMTK's dcmdjpeg decompressed JPGExtended.dcm to native, then pydicom 2.3.1 read
  // it: 1024x256, sum 3767007, [100,100] = 1, max 264 (RescaleSlope absent).
  Volume j = read_dicom(pydicom("JPGExtended.dcm"));
  REQUIRE(j.rows() == 1024);
  REQUIRE(j.cols() == 256);
  CHECK(j.data().to(torch::kFloat64).sum().item<double>() == 3767007.0);
  CHECK(j.data()[0][100][100].item<float>() == 1.0f);
  CHECK(j.data().max().item<float>() == 264.0f);
  for (const std::string name : {"JPEG2000.dcm", "693_J2KI.dcm"}) {
    INFO(name);
    Volume v = read_dicom(pydicom(name));
    CHECK(v.depth() == 1);
    CHECK(torch::isfinite(v.data()).all().item<bool>());
    CHECK(v.data().std().item<double>() > 0);
  }
}

namespace {
// A one-slice 2x2 image with the given pixel format, written by hand with DCMTK.
void write_tiny(const fs::path& file, const std::vector<Uint16>& raw, int bits_stored, int pixel_rep,
                const char* photometric, const char* slope = "1", const char* intercept = "0") {
  DcmFileFormat ff;
  DcmDataset& ds = *ff.getDataset();
  ds.putAndInsertString(DCM_SOPClassUID, UID_CTImageStorage);
  ds.putAndInsertString(DCM_SOPInstanceUID, "1.2.826.0.1.3680043.2.1125.9.1");
  ds.putAndInsertString(DCM_SeriesInstanceUID, "1.2.826.0.1.3680043.2.1125.9.2");
  ds.putAndInsertString(DCM_Modality, "CT");
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  ds.putAndInsertString(DCM_PhotometricInterpretation, photometric);
  ds.putAndInsertUint16(DCM_Rows, 2);
  ds.putAndInsertUint16(DCM_Columns, 2);
  ds.putAndInsertUint16(DCM_BitsAllocated, 16);
  ds.putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(bits_stored));
  ds.putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(bits_stored - 1));
  ds.putAndInsertUint16(DCM_PixelRepresentation, static_cast<Uint16>(pixel_rep));
  ds.putAndInsertString(DCM_RescaleSlope, slope);
  ds.putAndInsertString(DCM_RescaleIntercept, intercept);
  ds.putAndInsertUint16Array(DCM_PixelData, raw.data(), static_cast<unsigned long>(raw.size()));
  REQUIRE(ff.saveFile(file.c_str(), EXS_LittleEndianExplicit).good());
}
}  // namespace

TEST_CASE("signed pixels with BitsStored < BitsAllocated are sign-extended", "[io]") {
  test::TempDir tmp;
  // 12-bit two's complement: 0x0FFF = -1, 0x0800 = -2048, 0x07FF = 2047; high nibble is garbage.
  write_tiny(tmp / "s.dcm", {0x0FFF, 0xF800, 0x07FF, 0xA005}, 12, 1, "MONOCHROME2", "2", "10");
  Volume v = read_dicom(tmp / "s.dcm");
  CHECK(v.data()[0][0][0].item<float>() == -1 * 2 + 10);
  CHECK(v.data()[0][0][1].item<float>() == -2048 * 2 + 10);
  CHECK(v.data()[0][1][0].item<float>() == 2047 * 2 + 10);
  CHECK(v.data()[0][1][1].item<float>() == 5 * 2 + 10);
}

TEST_CASE("MONOCHROME1 is inverted within the stored range", "[io]") {
  test::TempDir tmp;
  // Unsigned 8-bit range stored in 16 bits: stored s reads as 255 - s.
  write_tiny(tmp / "m.dcm", {0, 255, 100, 7}, 8, 0, "MONOCHROME1");
  Volume v = read_dicom(tmp / "m.dcm");
  CHECK(v.data()[0][0][0].item<float>() == 255.0f);
  CHECK(v.data()[0][0][1].item<float>() == 0.0f);
  CHECK(v.data()[0][1][0].item<float>() == 155.0f);
  CHECK(v.data()[0][1][1].item<float>() == 248.0f);
}

TEST_CASE("non-uniform slice spacing is reported", "[io]") {
  test::TempDir tmp;
  Volume v = phantom(5, 8, 8);
  auto files = write_dicom_series(v, tmp.path());
  // Move slice 3 by 0.6 mm along the normal (spacing 2.5 mm): not a gap, not a duplicate.
  DcmFileFormat ff;
  REQUIRE(ff.loadFile(files[2].c_str()).good());
  auto p = v.index_to_lps(2, 0, 0);
  const auto& d = v.direction();
  std::string ipp = std::to_string(p[0] + 0.6 * d[0][2]) + "\\" + std::to_string(p[1] + 0.6 * d[1][2]) + "\\" +
                    std::to_string(p[2] + 0.6 * d[2][2]);
  ff.getDataset()->putAndInsertString(DCM_ImagePositionPatient, ipp.c_str());
  REQUIRE(ff.saveFile(files[2].c_str(), EXS_LittleEndianExplicit).good());
  Volume r = read_dicom(tmp.path());
  REQUIRE(r.info().warnings.size() == 1);
  CHECK_THAT(r.info().warnings[0], Catch::Contains("non-uniform slice spacing"));
  DicomReadOptions strict;
  strict.strict = true;
  CHECK_THROWS_WITH(read_dicom(tmp.path(), "", strict), Catch::Contains("non-uniform"));
}
