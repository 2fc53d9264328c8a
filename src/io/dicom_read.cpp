// Pixel decoding: DICOM instances to float32 physical values.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "dicom_deflate.hpp"
#include "dicom_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/dicom_base.hpp"
#include "tomograd/io/limits.hpp"

namespace fs = std::filesystem;

namespace tomograd::io {

using detail::get_number;
using detail::get_string;

namespace {

// How stored pixel values are laid out (PS3.3 C.7.6.3.1).
struct PixelFormat {
  int bits_allocated = 16;
  int bits_stored = 16;
  int high_bit = 15;
  bool is_signed = false;
  bool monochrome1 = false;
};

// Stored value -> value after BitsStored masking and sign extension.
inline int64_t stored_value(uint64_t raw, const PixelFormat& pf) {
  const int shift = pf.high_bit + 1 - pf.bits_stored;
  const uint64_t mask = pf.bits_stored >= 64 ? ~0ULL : ((1ULL << pf.bits_stored) - 1);
  uint64_t v = (raw >> (shift > 0 ? shift : 0)) & mask;
  if (pf.is_signed && (v & (1ULL << (pf.bits_stored - 1)))) {
    return static_cast<int64_t>(v | ~mask);  // sign-extend from bit BitsStored-1
  }
  return static_cast<int64_t>(v);
}

// MONOCHROME1 shows the minimum as white: invert within the representable stored range so the
// result reads like MONOCHROME2 (PS3.3 C.7.6.3.1.2).
inline int64_t invert_if_monochrome1(int64_t v, const PixelFormat& pf) {
  if (!pf.monochrome1) return v;
  const int64_t lo = pf.is_signed ? -(int64_t{1} << (pf.bits_stored - 1)) : 0;
  const int64_t hi = pf.is_signed ? (int64_t{1} << (pf.bits_stored - 1)) - 1
                                  : (int64_t{1} << pf.bits_stored) - 1;
  return lo + hi - v;
}

void convert_raw_frame(const uint8_t* bytes, std::size_t count, const PixelFormat& pf,
                       double slope, double intercept, float* out) {
  const float s = static_cast<float>(slope), b = static_cast<float>(intercept);
  // Fast paths for the common 16-bit cases (no masking needed when BitsStored == 16).
  if (pf.bits_allocated == 16 && pf.bits_stored == 16 && !pf.monochrome1) {
    if (pf.is_signed) {
      const auto* p = reinterpret_cast<const int16_t*>(bytes);
      for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<float>(p[i]) * s + b;
    } else {
      const auto* p = reinterpret_cast<const uint16_t*>(bytes);
      for (std::size_t i = 0; i < count; ++i) out[i] = static_cast<float>(p[i]) * s + b;
    }
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {
    uint64_t raw = 0;
    switch (pf.bits_allocated) {
      case 8: raw = bytes[i]; break;
      case 16: { uint16_t v; std::memcpy(&v, bytes + 2 * i, 2); raw = v; break; }
      case 32: { uint32_t v; std::memcpy(&v, bytes + 4 * i, 4); raw = v; break; }
      default: break;
    }
    int64_t v = invert_if_monochrome1(stored_value(raw, pf), pf);
    out[i] = static_cast<float>(static_cast<double>(v) * slope + intercept);
  }
}

void convert_j2k_frame(const detail::J2kFrame& f, const PixelFormat& pf, double slope,
                       double intercept, float* out) {
  const std::size_t count = f.values.size();
  for (std::size_t i = 0; i < count; ++i) {
    int64_t v = f.values[i];
    // The J2K header's signedness can disagree with PixelRepresentation; the DICOM attribute
    // wins (as in pydicom and GDCM): reinterpret the decoded bits as signed.
    if (pf.is_signed && !f.is_signed && f.precision > 0 && f.precision < 64 &&
        (v & (int64_t{1} << (f.precision - 1)))) {
      v -= int64_t{1} << f.precision;
    }
    v = invert_if_monochrome1(v, pf);
    out[i] = static_cast<float>(static_cast<double>(v) * slope + intercept);
  }
}

// The compressed bytes of each frame of an encapsulated JPEG 2000 pixel data element
// (PS3.5 A.4): the basic offset table splits frames when present; otherwise one fragment per
// frame, or every fragment for a single frame.
std::vector<std::vector<uint8_t>> j2k_frames(DcmPixelSequence* seq, int frames, const std::string& file) {
  std::vector<std::vector<uint8_t>> fragments;
  std::vector<uint32_t> offsets;
  for (unsigned long i = 0; i < seq->card(); ++i) {
    DcmPixelItem* item = nullptr;
    if (seq->getItem(item, i).bad() || item == nullptr) break;
    Uint8* bytes = nullptr;
    item->getUint8Array(bytes);
    const Uint32 len = item->getLength();
    if (i == 0) {  // basic offset table
      for (Uint32 k = 0; k + 4 <= len && bytes; k += 4) {
        uint32_t off;
        std::memcpy(&off, bytes + k, 4);
        offsets.push_back(off);
      }
      continue;
    }
    fragments.emplace_back(bytes, bytes + (bytes ? len : 0));
  }
  std::vector<std::vector<uint8_t>> out;
  if (frames == 1) {
    out.emplace_back();
    for (auto& f : fragments) out[0].insert(out[0].end(), f.begin(), f.end());
  } else if (static_cast<int>(fragments.size()) == frames) {
    out = std::move(fragments);
  } else if (static_cast<int>(offsets.size()) == frames) {
    // Offsets count bytes from the first fragment's item tag: each item adds 8 header bytes.
    std::vector<uint8_t> all;
    std::vector<uint32_t> item_start;
    uint32_t pos = 0;
    for (auto& f : fragments) {
      item_start.push_back(pos);
      pos += static_cast<uint32_t>(f.size()) + 8;
    }
    for (int fr = 0; fr < frames; ++fr) {
      out.emplace_back();
      uint32_t end = fr + 1 < frames ? offsets[fr + 1] : pos;
      for (std::size_t k = 0; k < fragments.size(); ++k) {
        if (item_start[k] >= offsets[fr] && item_start[k] < end) {
          out.back().insert(out.back().end(), fragments[k].begin(), fragments[k].end());
        }
      }
    }
  } else {
    throw DicomError("'" + file + "': cannot split " + std::to_string(fragments.size()) +
                     " JPEG 2000 fragments into " + std::to_string(frames) + " frames");
  }
  return out;
}

PixelFormat pixel_format(const DicomInstance& inst) {
  PixelFormat pf;
  pf.bits_allocated = inst.bits_allocated;
  pf.bits_stored = inst.bits_stored;
  pf.high_bit = inst.high_bit;
  pf.is_signed = inst.is_signed;
  pf.monochrome1 = inst.photometric == "MONOCHROME1";
  return pf;
}

void check_pixel_format(const DicomInstance& inst, int rows, int cols) {
  const std::string file = inst.file.string();
  if (inst.samples_per_pixel != 1 ||
      (!inst.photometric.empty() && inst.photometric != "MONOCHROME1" && inst.photometric != "MONOCHROME2")) {
    throw DicomError("'" + file + "' is a colour image (SamplesPerPixel " + std::to_string(inst.samples_per_pixel) +
                     ", PhotometricInterpretation " + inst.photometric +
                     "): tomograd reads greyscale (MONOCHROME1/2) images only");
  }
  if (inst.rows != rows || inst.cols != cols) {
    throw DicomError("'" + file + "' is " + std::to_string(inst.rows) + "x" + std::to_string(inst.cols) +
                     " pixels but the series is " + std::to_string(rows) + "x" + std::to_string(cols));
  }
  const PixelFormat pf = pixel_format(inst);
  if ((pf.bits_allocated != 8 && pf.bits_allocated != 16 && pf.bits_allocated != 32) || pf.bits_stored < 1 ||
      pf.bits_stored > pf.bits_allocated || pf.high_bit < pf.bits_stored - 1 || pf.high_bit >= pf.bits_allocated) {
    throw DicomError("'" + file + "': unsupported pixel format (BitsAllocated " + std::to_string(pf.bits_allocated) +
                     ", BitsStored " + std::to_string(pf.bits_stored) + ", HighBit " + std::to_string(pf.high_bit) +
                     ")");
  }
}

struct FrameTarget {
  int frame;          // frame within the instance
  int64_t slice;      // destination slice in the volume
  double slope, intercept;
};

// Fast path for uncompressed little-endian files whose PixelData is the last element (the usual
// layout): the value is the file's tail, preceded by its element header. The header bytes are
// checked (tag, VR, length) before the pixels are used; anything unusual returns false and the
// caller parses the file with DCMTK instead. Saves a second full parse and DCMTK's per-file
// buffer allocation, which dominated read time for large series.
bool read_trailing_pixels(const DicomInstance& inst, std::size_t value_length, std::vector<uint8_t>& buffer) {
  const bool explicit_vr = inst.transfer_syntax_uid == "1.2.840.10008.1.2.1";
  const bool implicit_vr = inst.transfer_syntax_uid == "1.2.840.10008.1.2";
  if (!explicit_vr && !implicit_vr) return false;
  const std::size_t header = explicit_vr ? 12 : 8;
  int fd = ::open(inst.file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st {};
  bool ok = ::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) >= value_length + header + 132;
  if (ok) {
    const off_t start = static_cast<off_t>(st.st_size - value_length - header);
    buffer.resize(value_length + header);
    std::size_t done = 0;
    while (ok && done < buffer.size()) {
      ssize_t n = ::pread(fd, buffer.data() + done, buffer.size() - done, start + static_cast<off_t>(done));
      if (n <= 0) ok = false;
      else done += static_cast<std::size_t>(n);
    }
  }
  ::close(fd);
  if (!ok) return false;
  const uint8_t* h = buffer.data();
  uint32_t len = 0;
  if (h[0] != 0xE0 || h[1] != 0x7F || h[2] != 0x10 || h[3] != 0x00) return false;  // (7FE0,0010)
  if (explicit_vr) {
    if (!((h[4] == 'O' && (h[5] == 'W' || h[5] == 'B')) && h[6] == 0 && h[7] == 0)) return false;
    std::memcpy(&len, h + 8, 4);
  } else {
    std::memcpy(&len, h + 4, 4);
  }
  if (len != value_length) return false;
  buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(header));
  return true;
}

// The encapsulated pixel data of @p ds (PS3.5 A.4): one basic offset table item, then the
// fragments. Throws when it is missing or has fewer fragments than frames (each frame starts a
// fragment), before any decoder allocates the decoded frames.
DcmPixelSequence* encapsulated_pixels(DcmDataset& ds, const DicomInstance& inst) {
  const std::string file = inst.file.string();
  DcmElement* el = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, el).bad() || el == nullptr) {
    throw DicomError("'" + file + "': no PixelData element");
  }
  DcmPixelSequence* seq = nullptr;
  // A PixelData element with an odd VR is not a DcmPixelData object (ident() tells).
  if (el->ident() != EVR_PixelData ||
      static_cast<DcmPixelData*>(el)->getEncapsulatedRepresentation(ds.getOriginalXfer(), nullptr, seq).bad() ||
      seq == nullptr) {
    throw DicomError("'" + file + "': PixelData of transfer syntax " + transfer_syntax_name(inst.transfer_syntax_uid) +
                     " is not encapsulated (expected a sequence of fragments)");
  }
  const unsigned long fragments = seq->card() > 0 ? seq->card() - 1 : 0;
  if (fragments < static_cast<unsigned long>(inst.frames)) {
    throw DicomError("'" + file + "': NumberOfFrames " + std::to_string(inst.frames) + " but the encapsulated " +
                     "PixelData has " + std::to_string(fragments) + " fragment(s); expected at least one per frame");
  }
  return seq;
}

void decode_jpeg2000_instance(DcmDataset& ds, const DicomInstance& inst, const std::vector<FrameTarget>& targets,
                              int rows, int cols, float* volume) {
  const std::string file = inst.file.string();
  const PixelFormat pf = pixel_format(inst);
  const std::size_t pixels = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  auto frames = j2k_frames(encapsulated_pixels(ds, inst), inst.frames, file);
  for (const auto& t : targets) {
    if (t.frame >= static_cast<int>(frames.size())) {
      throw DicomError("'" + file + "': frame " + std::to_string(t.frame + 1) + " is missing");
    }
    const auto& bytes = frames[static_cast<std::size_t>(t.frame)];
    auto f = detail::decode_jpeg2000(bytes.data(), bytes.size(), "'" + file + "' frame " + std::to_string(t.frame + 1),
                                     cols, rows);
    if (f.width != cols || f.height != rows || f.values.size() != pixels) {
      throw DicomError("'" + file + "': JPEG 2000 frame is " + std::to_string(f.width) + "x" +
                       std::to_string(f.height) + ", header says " + std::to_string(cols) + "x" +
                       std::to_string(rows));
    }
    convert_j2k_frame(f, pf, t.slope, t.intercept, volume + t.slice * static_cast<int64_t>(pixels));
  }
}

// Native (or, after DCMTK decoded it, formerly encapsulated) pixel data of a loaded data set.
void decode_native(DcmDataset& ds, const DicomInstance& inst, const std::vector<FrameTarget>& targets, int rows,
                   int cols, float* volume) {
  const std::string file = inst.file.string();
  const PixelFormat pf = pixel_format(inst);
  const std::size_t pixels = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  const std::size_t frame_bytes = pixels * static_cast<std::size_t>(pf.bits_allocated / 8);
  DcmElement* el = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, el).bad() || el == nullptr) {
    throw DicomError("'" + file + "' has no PixelData");
  }
  Uint8* data = nullptr;
  std::size_t length = el->getLength();
  if (pf.bits_allocated == 8) {
    el->getUint8Array(data);
  } else {
    Uint16* words = nullptr;
    if (el->getUint16Array(words).good()) data = reinterpret_cast<Uint8*>(words);
    else el->getUint8Array(data);
  }
  if (data == nullptr) throw DicomError("'" + file + "': PixelData could not be read");
  const std::size_t needed = frame_bytes * static_cast<std::size_t>(inst.frames);
  if (length < needed) {
    throw DicomError("'" + file + "': pixel data truncated: " + std::to_string(inst.frames) +
                     " frame(s) of " + std::to_string(rows) + "x" + std::to_string(cols) + "x" +
                     std::to_string(pf.bits_allocated) + " bit need " + std::to_string(needed) +
                     " bytes, found " + std::to_string(length));
  }
  std::vector<uint8_t> swapped;
  if (pf.bits_allocated == 32 && DcmXfer(ds.getOriginalXfer()).isBigEndian()) {
    // DCMTK swaps OW data in 16-bit words; 32-bit samples also need their two words swapped.
    swapped.assign(data, data + needed);
    for (std::size_t i = 0; i + 4 <= swapped.size(); i += 4) {
      std::swap(swapped[i], swapped[i + 2]);
      std::swap(swapped[i + 1], swapped[i + 3]);
    }
    data = swapped.data();
  }
  for (const auto& t : targets) {
    convert_raw_frame(data + frame_bytes * static_cast<std::size_t>(t.frame), pixels, pf, t.slope,
                      t.intercept, volume + t.slice * static_cast<int64_t>(pixels));
  }
}

void decode_instance(const DicomInstance& inst, const std::vector<FrameTarget>& targets,
                     int rows, int cols, float* volume) {
  const std::string file = inst.file.string();
  check_pixel_format(inst, rows, cols);
  const PixelFormat pf = pixel_format(inst);
  const std::size_t pixels = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
  const std::size_t frame_bytes = pixels * static_cast<std::size_t>(pf.bits_allocated / 8);
  {
    std::size_t value_length = frame_bytes * static_cast<std::size_t>(inst.frames);
    value_length += value_length & 1;  // values have even length (PS3.5 7.1.1)
    thread_local std::vector<uint8_t> buffer;
    if (read_trailing_pixels(inst, value_length, buffer)) {
      for (const auto& t : targets) {
        convert_raw_frame(buffer.data() + frame_bytes * static_cast<std::size_t>(t.frame), pixels, pf, t.slope,
                          t.intercept, volume + t.slice * static_cast<int64_t>(pixels));
      }
      return;
    }
  }
  DcmFileFormat ff;
  OFCondition st = detail::load_dicom_file(ff, inst.file);
  if (st.bad()) throw DicomError("cannot read '" + file + "': " + st.text());
  DcmDataset& ds = *ff.getDataset();
  if (detail::is_jpeg2000(inst.transfer_syntax_uid)) {
    decode_jpeg2000_instance(ds, inst, targets, rows, cols, volume);
    return;
  }
  if (DcmXfer(ds.getOriginalXfer()).isEncapsulated()) {
    // RLE, JPEG and JPEG-LS through DCMTK's registered decoders.
    encapsulated_pixels(ds, inst);
    if (ds.chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad() ||
        !ds.canWriteXfer(EXS_LittleEndianExplicit)) {
      throw DicomError("cannot decode '" + file + "': transfer syntax " +
                       transfer_syntax_name(inst.transfer_syntax_uid) + " (" +
                       inst.transfer_syntax_uid + ") is not supported");
    }
  }
  decode_native(ds, inst, targets, rows, cols, volume);
}

}  // namespace

Image read_dicom_image(const DicomSeries& series, const DicomReadOptions& options) {
  detail::ensure_dcmtk_ready();
  SeriesGeometry geo = series_geometry(series, options.strict);
  for (const auto& w : geo.warnings) {
    if (options.log_warnings) logger()->warn("series {}: {}", series.info.series_uid, w);
    else logger()->debug("series {}: {}", series.info.series_uid, w);
  }
  const int64_t depth = static_cast<int64_t>(geo.order.size());
  if (depth == 0 || series.rows <= 0 || series.cols <= 0) {
    throw DicomError("series " + series.info.series_uid + " has no readable slices");
  }
  const auto bytes = checked_product({depth, series.rows, series.cols, 4});
  if (!bytes || *bytes > max_image_bytes()) {
    throw DicomError("series " + series.info.series_uid + ": " + std::to_string(depth) + " slices of " +
                     std::to_string(series.rows) + "x" + std::to_string(series.cols) + " pixels need " +
                     (bytes ? format_bytes(*bytes) : "more than 2^64 bytes") + " as float32, more than the " +
                     format_bytes(max_image_bytes()) + " a reader may allocate");
  }
  Image image({depth, series.rows, series.cols});
  float* out = image.data();

  // Frames grouped by their file so that each file is loaded once.
  std::map<std::size_t, std::vector<FrameTarget>> by_instance;
  for (int64_t k = 0; k < depth; ++k) {
    const DicomFrame& f = series.frames[geo.order[k]];
    by_instance[f.instance].push_back({f.frame, k, f.slope, f.intercept});
  }
  std::vector<std::pair<std::size_t, std::vector<FrameTarget>>> jobs(by_instance.begin(), by_instance.end());
  {
    ProgressBar bar(options.show_progress && depth > 20 ? depth : 0, "reading", "slices");
    parallel_for(jobs.size(), options.threads, [&](std::size_t j) {
      decode_instance(series.instances[jobs[j].first], jobs[j].second, series.rows, series.cols, out);
      bar.tick(static_cast<int64_t>(jobs[j].second.size()));
    });
  }

  VolumeInfo& info = image.info();
  info = series.info;
  info.instance_numbers.clear();
  for (int64_t k = 0; k < depth; ++k) info.instance_numbers.push_back(series.frames[geo.order[k]].instance_number);
  info.transfer_syntaxes = series.transfer_syntax_names();
  info.warnings = geo.warnings;
  if (!geo.order.empty()) {
    info.rescale_slope = series.frames[geo.order[0]].slope;
    info.rescale_intercept = series.frames[geo.order[0]].intercept;
  }
  image.set_geometry({geo.spacing_mm, geo.origin_lps, geo.direction});
  return image;
}

Image read_dicom_image(const fs::path& input, const std::string& selector, const DicomReadOptions& options) {
  DicomScanOptions scan;
  scan.threads = options.threads;
  scan.show_progress = options.show_progress;
  auto series = scan_dicom(input, scan);
  return read_dicom_image(select_series(series, selector), options);
}

}  // namespace tomograd::io
