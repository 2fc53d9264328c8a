// Zip central-directory check (see zip_directory.hpp). Every offset and size is checked with
// overflow-safe comparisons before it is used to read or to bound anything.
#include "tomograd/core/zip_directory.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "tomograd/core/error.hpp"

namespace tomograd::zip {

namespace {

constexpr uint32_t kLocalSignature = 0x04034b50;     // "PK\3\4"
constexpr uint32_t kCentralSignature = 0x02014b50;   // "PK\1\2"
constexpr uint32_t kEndSignature = 0x06054b50;       // "PK\5\6"
constexpr uint32_t kZip64EndSignature = 0x06064b50;  // "PK\6\6"
constexpr uint32_t kZip64LocatorSignature = 0x07064b50;  // "PK\6\7"
constexpr size_t kEndSize = 22, kZip64EndSize = 56, kZip64LocatorSize = 20;
constexpr size_t kCentralSize = 46, kLocalSize = 30;
constexpr uint32_t kSentinel32 = 0xffffffff;
constexpr uint16_t kSentinel16 = 0xffff;

uint64_t le(const std::string& b, size_t at, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(b[at + i])) << (8 * i);
  return v;
}

// A name as it can be printed on one line: control and non-ASCII bytes as \xNN, at most 120.
std::string printable(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size() && i < 120; ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c >= 32 && c < 127 && c != '\'') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (name.size() > 120) out += "...";
  return out;
}

std::string str(uint64_t v) { return std::to_string(v); }

// Where the central directory is, from the end record(s).
struct Directory {
  uint64_t count = 0;   // entries
  uint64_t offset = 0;  // first byte of the directory
  uint64_t size = 0;    // bytes
  uint64_t end = 0;     // where the directory must end: the ZIP64 end record or the end record
};

class ZipChecker {
 public:
  ZipChecker(const ZipReadAt& read_at, uint64_t file_size, const std::string& source)
      : read_at_(read_at), file_size_(file_size), source_(source) {}

  std::vector<ZipEntry> run() {
    const Directory dir = find_directory();
    std::vector<ZipEntry> entries;
    entries.reserve(static_cast<size_t>(dir.count));
    uint64_t pos = dir.offset;
    for (uint64_t i = 0; i < dir.count; ++i) entries.push_back(central_entry(dir, i, pos));
    return entries;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const { throw IoError(source_ + ": " + what); }
  [[noreturn]] void fail_entry(const std::string& name, const std::string& what) const {
    fail("zip entry '" + printable(name) + "': " + what);
  }

  // Exactly @p n bytes at @p offset (the caller has checked they lie inside the file).
  std::string bytes(uint64_t offset, size_t n, const std::string& what) const {
    std::string b(n, '\0');
    if (n > 0 && read_at_(offset, b.data(), n) != n) fail(what + ": cannot read " + str(n) + " bytes at offset " + str(offset));
    return b;
  }

  Directory find_directory() const;
  void read_zip64_end(uint64_t end_pos, Directory& dir) const;
  ZipEntry central_entry(const Directory& dir, uint64_t index, uint64_t& pos) const;
  void apply_zip64_extra(const std::string& extra, ZipEntry& e, bool& disk_sentinel) const;
  void check_sizes(const ZipEntry& e) const;
  void check_local_header(ZipEntry& e, uint16_t flags) const;

  const ZipReadAt& read_at_;
  uint64_t file_size_;
  std::string source_;
};

Directory ZipChecker::find_directory() const {
  if (file_size_ < kEndSize) {
    fail("zip archive of " + str(file_size_) + " bytes, expected at least the 22-byte end-of-central-directory record");
  }
  const uint64_t tail = std::min<uint64_t>(file_size_, kEndSize + 0xffff);
  const std::string b = bytes(file_size_ - tail, static_cast<size_t>(tail), "zip end record");
  // The last "PK\5\6" with 22 bytes after it, as miniz finds it: the record it will read.
  size_t at = b.size() - kEndSize + 1;
  bool found = false;
  while (!found && at-- > 0) found = le(b, at, 4) == kEndSignature;
  if (!found) fail("no zip end-of-central-directory record in the last " + str(tail) + " bytes (truncated or not a zip?)");
  const uint64_t end_pos = file_size_ - tail + at;
  if (le(b, at + 20, 2) > b.size() - at - kEndSize) {
    fail("zip end record: comment length " + str(le(b, at + 20, 2)) + ", expected at most the " +
         str(b.size() - at - kEndSize) + " bytes after the record");
  }
  if (le(b, at + 4, 2) != 0 || le(b, at + 6, 2) != 0) {
    if (le(b, at + 4, 2) != kSentinel16 || le(b, at + 6, 2) != kSentinel16) {
      fail("zip end record: disk number " + str(le(b, at + 4, 2)) + ", expected 0 (multi-volume archives are not supported)");
    }
  }
  Directory dir{le(b, at + 10, 2), le(b, at + 16, 4), le(b, at + 12, 4), end_pos};
  const bool zip64 = dir.count == kSentinel16 || dir.size == kSentinel32 || dir.offset == kSentinel32;
  if (end_pos >= kZip64LocatorSize && le(bytes(end_pos - kZip64LocatorSize, 4, "zip64 locator"), 0, 4) == kZip64LocatorSignature) {
    read_zip64_end(end_pos, dir);
  } else if (zip64) {
    fail("zip end record: entry count " + str(dir.count) + ", directory size " + str(dir.size) + ", offset " +
         str(dir.offset) + " call for ZIP64 records, but there is no ZIP64 locator before byte " + str(end_pos));
  } else if (le(b, at + 8, 2) != dir.count) {
    fail("zip end record: " + str(le(b, at + 8, 2)) + " entries on this disk, expected the total " + str(dir.count));
  }
  if (dir.offset > dir.end || dir.size > dir.end - dir.offset) {
    fail("zip central directory: offset " + str(dir.offset) + " + size " + str(dir.size) +
         " ends past byte " + str(dir.end) + ", where the end record starts (truncated or corrupt)");
  }
  if (dir.count == 0) fail("zip archive holds no entries");
  if (dir.count > kMaxZipEntries || dir.count > dir.size / kCentralSize) {
    fail("zip central directory: entry count " + str(dir.count) + ", expected at most " +
         str(std::min<uint64_t>(kMaxZipEntries, dir.size / kCentralSize)) + " (46+ bytes each in " + str(dir.size) +
         " bytes, at most " + str(kMaxZipEntries) + ")");
  }
  return dir;
}

void ZipChecker::read_zip64_end(uint64_t end_pos, Directory& dir) const {
  const std::string loc = bytes(end_pos - kZip64LocatorSize, kZip64LocatorSize, "zip64 locator");
  const uint64_t record = le(loc, 8, 8);
  const uint64_t limit = end_pos - kZip64LocatorSize;
  if (le(loc, 4, 4) != 0 || le(loc, 16, 4) > 1) fail("zip64 locator: multi-volume archives are not supported");
  if (record > limit || limit - record < kZip64EndSize) {
    fail("zip64 locator: end record offset " + str(record) + ", expected at most " +
         str(limit >= kZip64EndSize ? limit - kZip64EndSize : 0) + " (56 bytes before the locator at byte " + str(limit) + ")");
  }
  const std::string r = bytes(record, kZip64EndSize, "zip64 end record");
  if (le(r, 0, 4) != kZip64EndSignature) fail("zip64 end record at byte " + str(record) + ": wrong signature");
  if (le(r, 24, 8) != le(r, 32, 8)) {
    fail("zip64 end record: " + str(le(r, 24, 8)) + " entries on this disk, expected the total " + str(le(r, 32, 8)));
  }
  dir = Directory{le(r, 32, 8), le(r, 48, 8), le(r, 40, 8), record};
}

ZipEntry ZipChecker::central_entry(const Directory& dir, uint64_t index, uint64_t& pos) const {
  const uint64_t dir_end = dir.offset + dir.size;
  const std::string where = "zip central directory entry " + str(index);
  if (dir_end - pos < kCentralSize) fail(where + " at byte " + str(pos) + " runs past the directory's end at byte " + str(dir_end));
  const std::string h = bytes(pos, kCentralSize, where);
  if (le(h, 0, 4) != kCentralSignature) fail(where + " at byte " + str(pos) + ": wrong signature (corrupt directory)");
  const uint64_t n = le(h, 28, 2), m = le(h, 30, 2), k = le(h, 32, 2);
  if (dir_end - pos - kCentralSize < n + m + k) {
    fail(where + ": name length " + str(n) + " + extra " + str(m) + " + comment " + str(k) +
         " bytes, expected at most the " + str(dir_end - pos - kCentralSize) + " bytes left in the directory");
  }
  ZipEntry e;
  e.name = bytes(pos + kCentralSize, static_cast<size_t>(n), where);
  if (e.name.empty()) fail(where + ": name length 0, expected a name");
  const auto flags = static_cast<uint16_t>(le(h, 8, 2));
  e.method = static_cast<uint16_t>(le(h, 10, 2));
  e.compressed_size = le(h, 20, 4);
  e.uncompressed_size = le(h, 24, 4);
  e.local_header_offset = le(h, 42, 4);
  bool disk_sentinel = le(h, 34, 2) == kSentinel16;
  if (le(h, 34, 2) != 0 && !disk_sentinel) fail_entry(e.name, "disk number " + str(le(h, 34, 2)) + ", expected 0");
  apply_zip64_extra(bytes(pos + kCentralSize + n, static_cast<size_t>(m), where), e, disk_sentinel);
  if (flags & 1) fail_entry(e.name, "encrypted (flag bit 0), expected a plain entry");
  if (e.method != 0 && e.method != 8) fail_entry(e.name, "compression method " + str(e.method) + ", expected 0 (stored) or 8 (deflated)");
  check_sizes(e);
  check_local_header(e, flags);
  pos += kCentralSize + n + m + k;
  return e;
}

// ZIP64 extended information (APPNOTE 4.5.3): the 64-bit values of exactly those fields whose
// 32-bit value is the sentinel, in this order.
void ZipChecker::apply_zip64_extra(const std::string& extra, ZipEntry& e, bool& disk_sentinel) const {
  uint64_t* fields[] = {&e.uncompressed_size, &e.compressed_size, &e.local_header_offset};
  const char* names[] = {"uncompressed size", "compressed size", "local header offset"};
  std::string zip64;
  for (size_t at = 0; at + 4 <= extra.size();) {
    const uint64_t id = le(extra, at, 2), size = le(extra, at + 2, 2);
    if (size > extra.size() - at - 4) {
      fail_entry(e.name, "extra field " + str(id) + " of " + str(size) + " bytes, expected at most the " +
                             str(extra.size() - at - 4) + " bytes left of the extra data");
    }
    if (id == 1) zip64 = extra.substr(at + 4, static_cast<size_t>(size));
    at += 4 + size;
  }
  size_t at = 0;
  for (int i = 0; i < 3; ++i) {
    if (*fields[i] != kSentinel32) continue;
    if (zip64.size() < at + 8) fail_entry(e.name, std::string(names[i]) + " 0xffffffff, expected its 64-bit value in a ZIP64 extra field");
    *fields[i] = le(zip64, at, 8);
    at += 8;
  }
  if (disk_sentinel) {
    if (zip64.size() < at + 4 || le(zip64, at, 4) != 0) fail_entry(e.name, "disk number not 0 (multi-volume archives are not supported)");
    disk_sentinel = false;
  }
}

void ZipChecker::check_sizes(const ZipEntry& e) const {
  const std::string file = " (the file has " + str(file_size_) + " bytes)";
  if (e.local_header_offset > file_size_ || file_size_ - e.local_header_offset < kLocalSize) {
    fail_entry(e.name, "local header offset " + str(e.local_header_offset) + ", expected at most " +
                           str(file_size_ >= kLocalSize ? file_size_ - kLocalSize : 0) + file);
  }
  if (e.compressed_size > file_size_) {
    fail_entry(e.name, "compressed size " + str(e.compressed_size) + ", expected at most the file's size" + file);
  }
  if (e.method == 0 && e.uncompressed_size != e.compressed_size) {
    fail_entry(e.name, "uncompressed size " + str(e.uncompressed_size) + " of a stored entry, expected its compressed size " +
                           str(e.compressed_size));
  }
  if (e.method == 8 && e.uncompressed_size > max_inflated_size(e.compressed_size)) {
    fail_entry(e.name, "uncompressed size " + str(e.uncompressed_size) + ", expected at most " +
                           str(max_inflated_size(e.compressed_size)) + " (1032 x the compressed size " +
                           str(e.compressed_size) + ": deflate's largest ratio)");
  }
}

void ZipChecker::check_local_header(ZipEntry& e, uint16_t flags) const {
  const std::string h = bytes(e.local_header_offset, kLocalSize, "zip entry '" + printable(e.name) + "'");
  if (le(h, 0, 4) != kLocalSignature) {
    fail_entry(e.name, "no local header signature at the local header offset " + str(e.local_header_offset));
  }
  const uint64_t n = le(h, 26, 2), m = le(h, 28, 2);
  if (n != e.name.size()) fail_entry(e.name, "local header name length " + str(n) + ", expected " + str(e.name.size()) + " as in the central directory");
  if (le(h, 8, 2) != e.method) fail_entry(e.name, "local header compression method " + str(le(h, 8, 2)) + ", expected " + str(e.method) + " as in the central directory");
  // Sizes in the local header are zero when a data descriptor follows the data (flag bit 3), and
  // the sentinel when they live in its ZIP64 extra field.
  const uint64_t sizes[] = {le(h, 18, 4), le(h, 22, 4)};
  const uint64_t central[] = {e.compressed_size, e.uncompressed_size};
  const char* names[] = {"compressed size", "uncompressed size"};
  for (int i = 0; i < 2 && !(flags & 8); ++i) {
    if (sizes[i] != kSentinel32 && sizes[i] != central[i]) {
      fail_entry(e.name, "local header " + std::string(names[i]) + " " + str(sizes[i]) + ", expected " + str(central[i]) + " as in the central directory");
    }
  }
  e.data_offset = e.local_header_offset + kLocalSize + n + m;  // no overflow: offset < file size < 2^63
  if (e.data_offset > file_size_ || file_size_ - e.data_offset < e.compressed_size) {
    fail_entry(e.name, "data at bytes " + str(e.data_offset) + " + " + str(e.compressed_size) +
                           " (compressed size), expected to end within the file's " + str(file_size_) + " bytes");
  }
  const std::string local_name = bytes(e.local_header_offset + kLocalSize, static_cast<size_t>(n), "zip entry name");
  if (local_name != e.name) fail_entry(e.name, "local header names '" + printable(local_name) + "', expected the central directory's name");
}

}  // namespace

uint64_t max_inflated_size(uint64_t compressed_size) {
  constexpr uint64_t kRatio = 1032, kSlack = 1 << 16;
  return compressed_size > (UINT64_MAX - kSlack) / kRatio ? UINT64_MAX : compressed_size * kRatio + kSlack;
}

std::vector<ZipEntry> check_zip_directory(const ZipReadAt& read_at, uint64_t file_size, const std::string& source) {
  return ZipChecker(read_at, file_size, source).run();
}

std::vector<ZipEntry> check_zip_file(const std::filesystem::path& path) {
  const std::string source = path.string();
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(source + ": cannot open for reading");
  in.seekg(0, std::ios::end);
  const auto size = static_cast<uint64_t>(in.tellg());
  const ZipReadAt read_at = [&in](uint64_t offset, char* out, size_t n) -> size_t {
    in.clear();
    in.seekg(static_cast<std::streamoff>(offset));
    in.read(out, static_cast<std::streamsize>(n));
    return static_cast<size_t>(in.gcount());
  };
  return check_zip_directory(read_at, size, source);
}

}  // namespace tomograd::zip
