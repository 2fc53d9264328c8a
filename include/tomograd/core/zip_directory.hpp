#pragma once
/// @file A check of a zip archive's central directory and local headers against the file's
/// size, made before LibTorch's PyTorchStreamReader (miniz) opens a .pth/.pt (models' weight
/// import, train's checkpoints, the lumbar input cache): miniz allocates an entry's declared
/// uncompressed size before it reads a byte of it, so a 2 KiB file declaring a 4 GiB entry would
/// make it ask for 4 GiB. No LibTorch here (core_base), so that the check can be fuzzed and every
/// layer that opens a LibTorch archive can call it.
// Format: PKWARE APPNOTE.TXT 6.3 (4.3.7 local header, 4.3.12 central directory, 4.3.14-16 ZIP64
// end-of-central-directory record and locator, 4.5.3 ZIP64 extended information).
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace tomograd::zip {

/// One entry of the central directory, checked.
struct ZipEntry {
  std::string name;
  uint16_t method = 0;              ///< 0 stored, 8 deflated
  uint64_t compressed_size = 0;     ///< bytes of the entry's data in the file
  uint64_t uncompressed_size = 0;   ///< bytes once extracted (what a reader allocates)
  uint64_t local_header_offset = 0;
  uint64_t data_offset = 0;         ///< first byte of the data (after the local header)
};

/// Reads up to @p size bytes at @p offset into @p out; returns how many it read.
using ZipReadAt = std::function<size_t(uint64_t offset, char* out, size_t size)>;

/// Most entries an archive may declare (a state dict of a million tensors is far beyond any
/// published model's).
constexpr uint64_t kMaxZipEntries = 1'000'000;

/// Most a deflated entry can expand to: deflate's largest ratio is 1032:1 (a 258-byte match per
/// two bits), plus one block's slack.
uint64_t max_inflated_size(uint64_t compressed_size);

/// Finds the end-of-central-directory record (and the ZIP64 records when present) in the last
/// 64 KiB + 22 bytes, bounds the entry count by the directory's size and kMaxZipEntries, and
/// checks every entry (name length, method, encryption, sizes, local header offset) and its local
/// header (signature, name, method, sizes) against @p file_size: a stored entry's uncompressed
/// size equals its compressed size, a deflated one's is at most max_inflated_size(), and the data
/// lies inside the file. Throws IoError "<source>: zip entry '<name>': <field> <value>, expected
/// <what>" (or "<source>: zip <record>: ..." for the directory itself).
std::vector<ZipEntry> check_zip_directory(const ZipReadAt& read_at, uint64_t file_size, const std::string& source);

/// check_zip_directory() on a file, reading only the records it needs.
std::vector<ZipEntry> check_zip_file(const std::filesystem::path& path);

}  // namespace tomograd::zip
