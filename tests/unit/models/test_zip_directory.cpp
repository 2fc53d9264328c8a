// The zip directory check made before LibTorch's PyTorchStreamReader opens a .pth: archives as
// LibTorch writes them pass; entries declaring more bytes than the file holds, or headers past
// its end, are refused by name before miniz allocates anything.
#include <caffe2/serialize/inline_container.h>
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cstring>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/zip_directory.hpp"
#include "tomograd/models/weights_file.hpp"

// The zip fuzzing harness, compiled here under another name to replay
// tests/fuzz_regressions/zip/.
#define LLVMFuzzerTestOneInput fuzz_zip_one
#include "../../../fuzz/fuzz_zip.cpp"
#undef LLVMFuzzerTestOneInput

using namespace tomograd;
namespace fs = std::filesystem;

namespace {

void put32(std::string& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t get32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<uint8_t>(b[at + i])) << (8 * i);
  return v;
}

// Byte offset of the central directory header ("PK\1\2") of the entry whose name ends with
// @p suffix.
size_t central_header(const std::string& zip, const std::string& suffix) {
  for (size_t at = zip.find("PK\x01\x02"); at != std::string::npos; at = zip.find("PK\x01\x02", at + 1)) {
    const size_t n = static_cast<uint8_t>(zip[at + 28]) | static_cast<size_t>(static_cast<uint8_t>(zip[at + 29])) << 8;
    const std::string name = zip.substr(at + 46, n);
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) return at;
  }
  FAIL("no central directory entry named *" << suffix);
  return 0;
}

// A torch.save-style archive with one 4-float storage, as LibTorch writes it.
std::string small_archive(const fs::path& path) {
  models::StateDict sd;
  sd.insert("w", torch::tensor({1.f, 2.f, 3.f, 4.f}));
  models::save_weights(path, sd);
  return read_file(path);
}

}  // namespace

TEST_CASE("zip directory check: LibTorch's own archives pass, entries stored and inside the file", "[models]") {
  test::TempDir tmp;
  const std::string zip = small_archive(tmp / "w.pth");
  const auto entries = zip::check_zip_file(tmp / "w.pth");
  REQUIRE(entries.size() >= 3);  // data.pkl, byteorder, data/0 (+ version)
  bool storage = false;
  for (const auto& e : entries) {
    CHECK(e.method == 0);
    CHECK(e.compressed_size == e.uncompressed_size);
    CHECK(e.data_offset + e.compressed_size <= zip.size());
    if (e.name.size() > 7 && e.name.substr(e.name.size() - 7) == "/data/0") {
      storage = true;
      CHECK(e.uncompressed_size == 16);
      CHECK(zip.substr(e.data_offset, 4) == std::string("\x00\x00\x80\x3f", 4));  // 1.0f
    }
  }
  CHECK(storage);
  CHECK(models::read_weights(tmp / "w.pth").size() == 1);
}

TEST_CASE("zip directory check: a 4 GiB entry or a header past the end is one clear line", "[models]") {
  test::TempDir tmp;
  const std::string zip = small_archive(tmp / "w.pth");
  const size_t c = central_header(zip, "data/0");
  REQUIRE(get32(zip, c + 24) == 16);

  // A stored entry declaring 4 GiB of uncompressed data (miniz would allocate it).
  std::string big = zip;
  put32(big, c + 24, 0xfffffffe);
  write_file_atomic(tmp / "big.pth", big, Overwrite::kAllow);
  CHECK_THROWS_WITH(models::read_weights(tmp / "big.pth"),
                    Catch::Contains("big.pth: zip entry '") && Catch::Contains("data/0': uncompressed size 4294967294") &&
                        Catch::Contains("expected its compressed size 16"));
  // Both sizes 4 GiB: more than the file holds.
  put32(big, c + 20, 0xfffffffe);
  write_file_atomic(tmp / "big.pth", big, Overwrite::kAllow);
  CHECK_THROWS_WITH(models::read_weights(tmp / "big.pth"),
                    Catch::Contains("data/0': compressed size 4294967294, expected at most the file's size (the file has " +
                                    std::to_string(zip.size()) + " bytes)"));
  // Deflated and declaring 4 GiB from 16 bytes: beyond deflate's 1032:1.
  std::string bomb = zip;
  bomb[c + 10] = 8;
  bomb[get32(zip, c + 42) + 8] = 8;  // the local header's method too
  put32(bomb, c + 24, 0xfffffffe);
  write_file_atomic(tmp / "bomb.pth", bomb, Overwrite::kAllow);
  CHECK_THROWS_WITH(models::read_weights(tmp / "bomb.pth"),
                    Catch::Contains("data/0': uncompressed size 4294967294, expected at most 82048"));

  // A local header offset past the end of the file.
  std::string past = zip;
  put32(past, c + 42, static_cast<uint32_t>(zip.size() + 100));
  write_file_atomic(tmp / "past.pth", past, Overwrite::kAllow);
  CHECK_THROWS_WITH(models::read_weights(tmp / "past.pth"),
                    Catch::Contains("past.pth: zip entry '") &&
                        Catch::Contains("data/0': local header offset " + std::to_string(zip.size() + 100) +
                                        ", expected at most " + std::to_string(zip.size() - 30)));
  // A local header that disagrees with the central directory (its sizes are zero: LibTorch's
  // writer sets flag bit 3 and puts them in a data descriptor).
  std::string local = zip;
  local[get32(zip, c + 42) + 8] = 8;
  write_file_atomic(tmp / "local.pth", local, Overwrite::kAllow);
  CHECK_THROWS_WITH(models::read_weights(tmp / "local.pth"),
                    Catch::Contains("data/0': local header compression method 8, expected 0 as in the central directory"));
}

namespace {

void put64(std::string& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

}  // namespace

// LibTorch's writer (miniz) ends every archive with a ZIP64 end record and locator (APPNOTE
// 4.3.14, 4.3.15) before the 32-bit end record, whose fields hold the same values; miniz reads
// the ZIP64 record when the locator is there, and so does the check.
TEST_CASE("zip directory check: truncated archives, impossible entry counts, ZIP64 records", "[models]") {
  test::TempDir tmp;
  const std::string zip = small_archive(tmp / "w.pth");
  write_file_atomic(tmp / "cut.pth", zip.substr(0, zip.size() - 10), Overwrite::kAllow);
  CHECK_THROWS_WITH(models::read_weights(tmp / "cut.pth"), Catch::Contains("cut.pth: no zip end-of-central-directory record"));

  const size_t end = zip.rfind("PK\x05\x06"), rec = zip.rfind("PK\x06\x06"), loc = zip.rfind("PK\x06\x07");
  REQUIRE(end != std::string::npos);
  REQUIRE(rec != std::string::npos);
  REQUIRE(loc == end - 20);
  std::string many = zip;
  put64(many, rec + 24, 32639);
  put64(many, rec + 32, 32639);
  write_file_atomic(tmp / "many.pth", many, Overwrite::kAllow);
  CHECK_THROWS_WITH(models::read_weights(tmp / "many.pth"),
                    Catch::Contains("many.pth: zip central directory: entry count 32639, expected at most"));
  put64(many, rec + 24, uint64_t{1} << 40);
  put64(many, rec + 32, uint64_t{1} << 40);
  write_file_atomic(tmp / "many.pth", many, Overwrite::kAllow);
  CHECK_THROWS_WITH(models::read_weights(tmp / "many.pth"), Catch::Contains("entry count 1099511627776, expected at most"));
  std::string offset = zip;
  put64(offset, rec + 48, rec);  // the directory starting at the ZIP64 end record
  write_file_atomic(tmp / "offset.pth", offset, Overwrite::kAllow);
  CHECK_THROWS_WITH(models::read_weights(tmp / "offset.pth"),
                    Catch::Contains("offset.pth: zip central directory: offset " + std::to_string(rec)) &&
                        Catch::Contains("ends past byte " + std::to_string(rec)));

  // Without the ZIP64 records (a plain zip, as Python's zipfile writes): still read, by both.
  std::string plain = zip.substr(0, rec) + zip.substr(end);
  write_file_atomic(tmp / "plain.pth", plain, Overwrite::kAllow);
  CHECK(zip::check_zip_file(tmp / "plain.pth").size() == zip::check_zip_file(tmp / "w.pth").size());
  CHECK(models::read_weights(tmp / "plain.pth").size() == 1);
  // ... and with the 32-bit fields saying "see ZIP64" but no ZIP64 records.
  const size_t plain_end = plain.rfind("PK\x05\x06");
  plain[plain_end + 8] = plain[plain_end + 9] = plain[plain_end + 10] = plain[plain_end + 11] = '\xff';
  put32(plain, plain_end + 16, 0xffffffff);
  write_file_atomic(tmp / "lost.pth", plain, Overwrite::kAllow);
  CHECK_THROWS_WITH(models::read_weights(tmp / "lost.pth"),
                    Catch::Contains("lost.pth: zip end record: entry count 65535") && Catch::Contains("no ZIP64 locator"));
}

TEST_CASE("zip fuzzing harness: LibTorch's archive and the regression inputs end in a result or one error", "[models]") {
  test::TempDir tmp;
  const std::string zip = small_archive(tmp / "w.pth");
  CHECK(fuzz_zip_one(reinterpret_cast<const uint8_t*>(zip.data()), zip.size()) == 0);
  int replayed = 0;
  const fs::path dir = fs::path(TOMOGRAD_SOURCE_DIR) / "tests" / "fuzz_regressions" / "zip";
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      INFO(entry.path().string());
      const std::string bytes = read_file(entry.path());
      CHECK(fuzz_zip_one(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) == 0);
      ++replayed;
    }
  }
  WARN(replayed << " zip regression inputs replayed");
}
