// Deflated DICOM data sets inflated with a cap before DCMTK parses them (see dicom_deflate.hpp).
#include "dicom_deflate.hpp"

#include <unistd.h>
#include <zlib.h>
#include <dcmtk/dcmdata/dcistrmb.h>

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
  std::string transfer_syntax;
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
    if (le16(head, pos + 2) == 0x0010) {
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

OFCondition load_deflated(DcmFileFormat& ff, const fs::path& file, const MetaHeader& meta, const DcmTagKey& stop) {
  const std::string bytes = read_bytes(file, fs::file_size(file));
  // The preamble and meta header from memory (their elements were checked against these bytes
  // above), with an empty data set after them.
  DcmInputBufferStream meta_stream;
  meta_stream.setBuffer(bytes.data(), static_cast<offile_off_t>(meta.end));
  meta_stream.setEos();
  ff.transferInit();
  OFCondition st = ff.read(meta_stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  ff.transferEnd();
  if (st.bad()) return st;
  std::string dataset;
  const std::string error = inflate_capped(bytes, meta.end, max_inflated_dataset_bytes(), dataset);
  if (!error.empty()) return failure(error);
  TempFile inflated;
  {
    std::ofstream out(inflated.path(), std::ios::binary);
    out.write(dataset.data(), static_cast<std::streamsize>(dataset.size()));
    if (!out) return failure("cannot write the inflated data set to " + inflated.path().string());
  }
  dataset = std::string();
  DcmDataset& ds = *ff.getDataset();
  st = ds.loadFileUntilTag(inflated.path().c_str(), EXS_LittleEndianExplicit, EGL_noChange, DCM_MaxReadLength, stop);
  if (st.good()) st = ds.loadAllDataIntoMemory();  // before the file goes
  return st;
}

}  // namespace

std::uint64_t max_inflated_dataset_bytes() { return max_image_bytes() + kHeadroom; }

OFCondition load_dicom_file(DcmFileFormat& ff, const fs::path& file, const DcmTagKey& stop) {
  std::error_code ec;
  const std::uint64_t size = fs::file_size(file, ec);
  if (!ec && size > kPreamble) {
    const auto meta = read_meta(read_bytes(file, std::min<std::uint64_t>(size, kMaxMetaBytes)));
    if (meta && meta->transfer_syntax == kDeflatedTransferSyntax) return load_deflated(ff, file, *meta, stop);
  }
  return ff.loadFileUntilTag(file.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect, stop);
}

}  // namespace tomograd::io::detail
