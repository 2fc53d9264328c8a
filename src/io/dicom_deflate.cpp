// Deflated DICOM data sets inflated with a cap before DCMTK parses them (see dicom_deflate.hpp).
#include "dicom_deflate.hpp"

#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <fstream>
#include <optional>
#include <system_error>

#include "tomograd/io/limits.hpp"

namespace tomograd::io::detail {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kPreamble = 132;           // 128-byte preamble + "DICM" (PS3.10 7.1)
constexpr std::size_t kMaxMetaBytes = 1 << 20;   // a meta header is a few hundred bytes
constexpr std::uint64_t kHeadroom = std::uint64_t{64} << 20;

unsigned le16(const std::string& b, std::size_t at) {
  return static_cast<unsigned>(static_cast<unsigned char>(b[at])) | static_cast<unsigned>(static_cast<unsigned char>(b[at + 1])) << 8;
}

std::uint32_t le32(const std::string& b, std::size_t at) { return le16(b, at) | static_cast<std::uint32_t>(le16(b, at + 2)) << 16; }

OFCondition failure(const std::string& text) { return makeOFCondition(OFM_dcmdata, 1801, OF_error, text.c_str()); }

struct MetaHeader {
  std::size_t end = 0;            // first byte after group 0002
  std::string transfer_syntax;    // of the first (0002,0010), the one DCMTK keeps
  std::size_t ts_begin = 0, ts_end = 0;                   // that element's bytes
  std::size_t group_length_at = std::string::npos;        // (0002,0000)'s 4-byte value
};

// Group 0002 (always explicit VR little endian, PS3.10 7.1) walked from the bytes of @p head;
// nothing when the file has no preamble or a meta element runs past @p head (DCMTK decides then).
std::optional<MetaHeader> read_meta(const std::string& head) {
  if (head.size() < kPreamble || head.compare(128, 4, "DICM") != 0) return std::nullopt;
  MetaHeader meta;
  std::size_t pos = kPreamble;
  while (pos + 8 <= head.size() && le16(head, pos) == 0x0002) {
    const std::string vr = head.substr(pos + 4, 2);
    const bool long_form = vr == "OB" || vr == "OW" || vr == "OF" || vr == "SQ" || vr == "UT" || vr == "UN" ||
                           vr == "UC" || vr == "UR" || vr == "OD" || vr == "OL" || vr == "OV" || vr == "SV" || vr == "UV";
    if (long_form && pos + 12 > head.size()) return std::nullopt;
    const std::uint64_t length = long_form ? le32(head, pos + 8) : le16(head, pos + 6);
    const std::size_t value = pos + (long_form ? 12 : 8);
    if (length > head.size() - value) return std::nullopt;
    if (le16(head, pos + 2) == 0x0000 && vr == "UL" && length == 4) meta.group_length_at = value;
    if (le16(head, pos + 2) == 0x0010 && meta.ts_end == 0) {
      meta.ts_begin = pos;
      meta.ts_end = value + static_cast<std::size_t>(length);
      meta.transfer_syntax = head.substr(value, static_cast<std::size_t>(length));
      while (!meta.transfer_syntax.empty() && (meta.transfer_syntax.back() == '\0' || meta.transfer_syntax.back() == ' ')) {
        meta.transfer_syntax.pop_back();
      }
    }
    pos = value + static_cast<std::size_t>(length);
  }
  meta.end = pos;
  return meta;
}

// The raw deflate stream (PS3.5 A.5: RFC 1951, no zlib header) @p in inflated into @p out, at
// most @p cap bytes. Returns "" or what went wrong. A stream cut short keeps what it gave (DCMTK
// then reports the element it ends in).
std::string inflate_capped(const std::string& in, std::size_t begin, std::uint64_t cap, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return "zlib cannot start inflating";
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + begin));
  std::size_t left_in = in.size() - begin;  // handed to zlib 1 GiB at a time (uInt counts)
  std::string error;
  for (int rc = Z_OK; rc != Z_STREAM_END;) {
    if (out.size() >= cap + 1) {
      error = "the deflated data set inflates to more than " + format_bytes(cap) + " (the readers' limit " +
              format_bytes(max_image_bytes()) + " + 64 MiB): refused (a deflate bomb?)";
      break;
    }
    const std::size_t chunk = static_cast<std::size_t>(std::min<std::uint64_t>(cap + 1 - out.size(), 1 << 20));
    const std::size_t had = out.size();
    out.resize(had + chunk);
    z.next_out = reinterpret_cast<Bytef*>(out.data() + had);
    z.avail_out = static_cast<uInt>(chunk);
    if (z.avail_in == 0 && left_in > 0) {
      z.avail_in = static_cast<uInt>(std::min<std::size_t>(left_in, std::size_t{1} << 30));
      left_in -= z.avail_in;
    }
    rc = inflate(&z, Z_NO_FLUSH);
    out.resize(had + chunk - z.avail_out);
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && left_in == 0) break;  // stream cut short
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      error = std::string("the deflated data set is corrupt (zlib: ") + (z.msg ? z.msg : "error " + std::to_string(rc)) + ")";
      break;
    }
  }
  inflateEnd(&z);
  return error;
}

// A file of this process's own, removed when done.
class TempFile {
 public:
  TempFile() {
    static std::atomic<unsigned> counter{0};
    path_ = fs::temp_directory_path() /
            ("tomograd-inflated-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".dcm");
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_bytes(const fs::path& file, std::uint64_t max) {
  std::ifstream in(file, std::ios::binary);
  std::string bytes(static_cast<std::size_t>(max), '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(max));
  bytes.resize(static_cast<std::size_t>(in.gcount()));
  return bytes;
}

// The file DCMTK reads instead: the preamble and meta header with the transfer syntax set to
// explicit VR little endian (and the group length adjusted), then the inflated data set. DCMTK
// reads both from a file stream, so every long element's length is checked against the bytes
// present before anything is allocated (from a memory buffer it would allocate first).
std::string plain_copy(const std::string& bytes, const MetaHeader& meta, const std::string& dataset) {
  static const std::string kExplicit("1.2.840.10008.1.2.1\0", 20);
  std::string out = bytes.substr(0, meta.ts_begin) + std::string("\2\0\x10\0UI\x14\0", 8) + kExplicit +
                    bytes.substr(meta.ts_end, meta.end - meta.ts_end);
  const auto delta = static_cast<std::int64_t>(out.size()) - static_cast<std::int64_t>(meta.end);
  if (meta.group_length_at != std::string::npos) {
    const std::size_t at = meta.group_length_at < meta.ts_begin ? meta.group_length_at
                                                                 : static_cast<std::size_t>(static_cast<std::int64_t>(meta.group_length_at) + delta);
    const auto length = static_cast<std::uint32_t>(static_cast<std::int64_t>(le32(out, at)) + delta);
    for (int i = 0; i < 4; ++i) out[at + static_cast<std::size_t>(i)] = static_cast<char>((length >> (8 * i)) & 0xff);
  }
  return out + dataset;
}

OFCondition load_deflated(DcmFileFormat& ff, const fs::path& file, const MetaHeader& meta, const DcmTagKey& stop) {
  const std::string bytes = read_bytes(file, fs::file_size(file));
  std::string dataset;
  const std::string error = inflate_capped(bytes, meta.end, max_inflated_dataset_bytes(), dataset);
  if (!error.empty()) return failure(error);
  TempFile plain;
  {
    const std::string copy = plain_copy(bytes, meta, dataset);
    dataset = std::string();
    std::ofstream out(plain.path(), std::ios::binary);
    out.write(copy.data(), static_cast<std::streamsize>(copy.size()));
    if (!out) return failure("cannot write the inflated data set to " + plain.path().string());
  }
  OFCondition st = ff.loadFileUntilTag(plain.path().c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                       ERM_autoDetect, stop);
  if (st.good()) st = ff.loadAllDataIntoMemory();  // before the file goes
  if (st.good()) st = ff.getMetaInfo()->putAndInsertString(DCM_TransferSyntaxUID, kDeflatedTransferSyntax);
  return st;
}

}  // namespace

std::uint64_t max_inflated_dataset_bytes() { return max_image_bytes() + kHeadroom; }

OFCondition load_dicom_file(DcmFileFormat& ff, const fs::path& file, const DcmTagKey& stop) {
  // DCMTK's own reading of the meta header (from a file stream, so its long elements are checked
  // before allocation) decides, as it decides when it loads the file: our walk of group 0002 must
  // then agree, or the file is refused rather than left to DCMTK's own inflation.
  DcmMetaInfo meta_info;
  OFString syntax;
  if (meta_info.loadFile(file.c_str()).bad() || meta_info.findAndGetOFString(DCM_TransferSyntaxUID, syntax).bad() ||
      DcmXfer(syntax.c_str()).getXfer() != EXS_DeflatedLittleEndianExplicit) {
    return ff.loadFileUntilTag(file.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect, stop);
  }
  std::error_code ec;
  const std::uint64_t size = fs::file_size(file, ec);
  const auto meta = ec ? std::nullopt : read_meta(read_bytes(file, std::min<std::uint64_t>(size, kMaxMetaBytes)));
  if (!meta || meta->transfer_syntax != kDeflatedTransferSyntax) {
    return failure("the meta header names the deflated transfer syntax, but its group 0002 elements do not lie "
                   "end to end before the data set (corrupt meta header)");
  }
  return load_deflated(ff, file, *meta, stop);
}

}  // namespace tomograd::io::detail
