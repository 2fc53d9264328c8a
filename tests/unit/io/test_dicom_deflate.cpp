// Deflated DICOM data sets (1.2.840.10008.1.2.1.99) are inflated by tomograd with a cap before
// DCMTK parses them: an element declaring 1 GiB in a 1 KiB file is refused by DCMTK's check
// against the bytes present (not allocated first, as DCMTK does while it inflates itself), and a
// deflate bomb is refused at the cap. (Round trips of real deflated files: test_dicom.cpp.)
#include <zlib.h>

#include <catch2/catch.hpp>

#include "../../../src/io/dicom_deflate.hpp"
#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/limits.hpp"

using namespace tomograd;
namespace fs = std::filesystem;

namespace {

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// One explicit VR little endian element (PS3.5 7.1.2); @p length overrides the value's size.
std::string element(uint16_t group, uint16_t elem, const std::string& vr, const std::string& value,
                    int64_t length = -1) {
  const uint64_t n = length < 0 ? value.size() : static_cast<uint64_t>(length);
  const bool long_form = vr == "OB" || vr == "OW" || vr == "UN" || vr == "SQ" || vr == "UT";
  return le(group, 2) + le(elem, 2) + vr + (long_form ? std::string(2, '\0') + le(n, 4) : le(n, 2)) + value;
}

std::string raw_deflate(const std::string& data) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

// A Part 10 file: preamble, meta header naming the deflated transfer syntax, deflated @p dataset.
std::string deflated_file(const std::string& dataset) {
  const std::string meta = element(2, 1, "OB", std::string("\0\1", 2)) +
                           element(2, 2, "UI", std::string("1.2.840.10008.5.1.4.1.1.2") + '\0') +
                           element(2, 3, "UI", "1.2.826.0.1.3680043.2.1143.1.1") +
                           element(2, 0x10, "UI", io::detail::kDeflatedTransferSyntax);
  return std::string(128, '\0') + "DICM" + element(2, 0, "UL", le(meta.size(), 4)) + meta + raw_deflate(dataset);
}

// A 4x4 CT image's attributes, without pixel data.
std::string image_attributes() {
  return element(8, 0x60, "CS", "CT") + element(0x20, 0xe, "UI", "1.2.3.4") + element(0x28, 2, "US", le(1, 2)) +
         element(0x28, 4, "CS", "MONOCHROME2 ") + element(0x28, 0x10, "US", le(4, 2)) +
         element(0x28, 0x11, "US", le(4, 2)) + element(0x28, 0x100, "US", le(16, 2)) +
         element(0x28, 0x101, "US", le(16, 2)) + element(0x28, 0x102, "US", le(15, 2)) +
         element(0x28, 0x103, "US", le(1, 2));
}

}  // namespace

TEST_CASE("deflated DICOM: our inflation reads a good file, keeps its transfer syntax", "[io]") {
  test::TempDir tmp;
  std::string pixels;
  for (int i = 0; i < 16; ++i) pixels += le(static_cast<uint64_t>(i * 100), 2);
  write_file_atomic(tmp / "good.dcm", deflated_file(image_attributes() + element(0x7fe0, 0x10, "OW", pixels)));
  DcmFileFormat ff;
  REQUIRE(io::detail::load_dicom_file(ff, tmp / "good.dcm").good());
  OFString ts;
  ff.getMetaInfo()->findAndGetOFString(DCM_TransferSyntaxUID, ts);
  CHECK(ts == io::detail::kDeflatedTransferSyntax);
  const Uint16* values = nullptr;
  unsigned long count = 0;
  REQUIRE(ff.getDataset()->findAndGetUint16Array(DCM_PixelData, values, &count).good());
  REQUIRE(count == 16);
  CHECK(values[15] == 1500);
  const auto volume = io::read_dicom(tmp / "good.dcm");
  CHECK(volume.data().sizes().vec() == std::vector<int64_t>{1, 4, 4});
  CHECK(volume.data()[0][3][3].item<float>() == 1500.f);
}

TEST_CASE("deflated DICOM: an element declaring 1 GiB in a small file is refused without allocating it", "[io]") {
  test::TempDir tmp;
  // 1 GiB of pixel data declared, 64 bytes present. DCMTK inflating the file itself allocates
  // the 1 GiB (nothrow) and then reports "Invalid stream"; reading our inflated copy it checks
  // the length against the bytes present first ("premature end of stream").
  write_file_atomic(tmp / "huge.dcm", deflated_file(image_attributes() + element(0x7fe0, 0x10, "OW", std::string(64, '\1'),
                                                                                  int64_t{1} << 30)));
  DcmFileFormat ff;
  const OFCondition st = io::detail::load_dicom_file(ff, tmp / "huge.dcm");
  CHECK(st == EC_StreamNotifyClient);
  CHECK_THROWS_AS(io::read_dicom(tmp / "huge.dcm"), DicomError);
  CHECK_THROWS_WITH(io::read_dicom(tmp / "huge.dcm"), Catch::Contains("huge.dcm"));
  // The fuzzing findings: DCMTK inflating a 4.6 KiB file allocated a 1 GiB element; our first
  // version parsed the meta header from memory, where a 432-byte file's meta element of 1.2 GiB
  // was allocated (both now refused by the check against the bytes present).
  const fs::path dir = fs::path(TOMOGRAD_SOURCE_DIR) / "tests/fuzz_regressions/dicom";
  for (const char* name : {"deflated-element-length-1GiB.dcm", "deflated-meta-element-length-1.2GiB-read-from-memory.dcm"}) {
    INFO(name);
    DcmFileFormat found;
    CHECK(io::detail::load_dicom_file(found, dir / name) == EC_StreamNotifyClient);
  }
  // A meta header whose group 0002 DCMTK reads by its group length (finding the deflated transfer
  // syntax) while its elements do not lie end to end: refused, not left to DCMTK's inflation.
  DcmFileFormat walk;
  const OFCondition st_walk = io::detail::load_dicom_file(walk, dir / "deflated-meta-walk-disagrees-with-dcmtk-1.2GiB.dcm");
  CHECK_THAT(std::string(st_walk.text()), Catch::Contains("corrupt meta header"));
}

TEST_CASE("deflated DICOM: a deflate bomb is refused at the cap, with the limit named", "[io]") {
  test::TempDir tmp;
  io::set_max_image_bytes(std::uint64_t{1} << 20);  // cap = 1 MiB + 64 MiB
  const std::string bomb = deflated_file(image_attributes() + element(0x0009, 0x1010, "OB", std::string(80u << 20, '\0')) +
                                         element(0x7fe0, 0x10, "OW", std::string(32, '\0')));
  CHECK(bomb.size() < (200u << 10));  // 80 MiB of zeros in ~80 KiB
  write_file_atomic(tmp / "bomb.dcm", bomb);
  DcmFileFormat ff;
  const OFCondition st = io::detail::load_dicom_file(ff, tmp / "bomb.dcm");
  CHECK(st.bad());
  CHECK_THAT(std::string(st.text()), Catch::Contains("inflates to more than 65.0 MiB") &&
                                         Catch::Contains("the readers' limit 1.0 MiB + 64 MiB"));
  // One file: the scan's one line names it and gives the reason in full.
  CHECK_THROWS_WITH(io::read_dicom(tmp / "bomb.dcm"),
                    Catch::StartsWith("no DICOM image found in '" + (tmp / "bomb.dcm").string() +
                                      "': looked at 1 file(s): 1 not readable as DICOM (") &&
                        Catch::Contains("inflates to more than 65.0 MiB (the readers' limit 1.0 MiB + 64 MiB"));
  // A folder whose files all fail for that reason says it too; with another reason beside it,
  // the summary counts the kinds.
  fs::create_directories(tmp / "bombs");
  write_file_atomic(tmp / "bombs" / "1.dcm", bomb);
  write_file_atomic(tmp / "bombs" / "2.dcm", bomb);
  CHECK_THROWS_WITH(io::scan_dicom(tmp / "bombs"), Catch::Contains("looked at 2 file(s): 2 not readable as DICOM (") &&
                                                       Catch::Contains("inflates to more than 65.0 MiB"));
  write_file_atomic(tmp / "bombs" / "notes.dcm", std::string(200, 'x'));
  CHECK_THROWS_WITH(io::scan_dicom(tmp / "bombs"), Catch::EndsWith("looked at 3 file(s): 3 not readable as DICOM"));
  io::set_max_image_bytes(0);
  // With the limit back at physical memory the same file is a valid (if odd) image.
  CHECK(io::read_dicom(tmp / "bomb.dcm").data().numel() == 16);
}
