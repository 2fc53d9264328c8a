// Header scan, series grouping and slice geometry.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <sstream>

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
using detail::get_numbers;
using detail::get_finite;
using detail::get_int;
using detail::get_string;

namespace {

const char* kDicomDirSopClass = "1.2.840.10008.1.3.10";

// Resolves a DICOMDIR ReferencedFileID (components upper-case on the medium) against the file
// system, matching each component case-insensitively when the exact name is missing.
std::optional<fs::path> resolve_referenced_file(const fs::path& root, const std::string& file_id) {
  fs::path p = root;
  std::stringstream ss(file_id);
  for (std::string part; std::getline(ss, part, '\\');) {
    if (part.empty()) continue;
    fs::path exact = p / part;
    std::error_code ec;
    if (fs::exists(exact, ec)) {
      p = exact;
      continue;
    }
    bool found = false;
    for (const auto& e : fs::directory_iterator(p, ec)) {
      std::string name = e.path().filename().string();
      if (name.size() == part.size() &&
          std::equal(name.begin(), name.end(), part.begin(),
                     [](char a, char b) { return std::toupper(a) == std::toupper(b); })) {
        p = e.path();
        found = true;
        break;
      }
    }
    if (!found) return std::nullopt;
  }
  return p;
}

std::vector<fs::path> files_of_dicomdir(const fs::path& dicomdir, DcmDataset& ds) {
  std::vector<fs::path> files;
  DcmSequenceOfItems* records = nullptr;
  if (ds.findAndGetSequence(DCM_DirectoryRecordSequence, records).bad() || records == nullptr) {
    throw DicomError("DICOMDIR '" + dicomdir.string() + "' has no DirectoryRecordSequence");
  }
  const fs::path root = dicomdir.parent_path();
  for (unsigned long i = 0; i < records->card(); ++i) {
    DcmItem* rec = records->getItem(i);
    OFString file_id;
    if (rec->findAndGetOFStringArray(DCM_ReferencedFileID, file_id).bad() || file_id.empty()) continue;
    auto resolved = resolve_referenced_file(root, file_id.c_str());
    if (!resolved) {
      logger()->warn("DICOMDIR '{}' references missing file '{}'", dicomdir.string(), file_id.c_str());
      continue;
    }
    files.push_back(*resolved);
  }
  return files;
}

// Per-frame attributes of an enhanced multi-frame object (PS3.3 C.7.6.16): look in the frame's
// item of PerFrameFunctionalGroupsSequence first, then in SharedFunctionalGroupsSequence.
DcmItem* functional_group(DcmItem* per_frame, DcmItem* shared, const DcmTagKey& macro) {
  DcmItem* out = nullptr;
  if (per_frame && per_frame->findAndGetSequenceItem(macro, out, 0).good() && out) return out;
  if (shared && shared->findAndGetSequenceItem(macro, out, 0).good() && out) return out;
  return nullptr;
}

struct ScannedFile {
  bool ok = false;
  std::string skip_reason;
  std::string problem;  ///< an image whose header cannot be right (sizes, frame count): named in full
  std::string series_uid;
  DicomInstance instance;
  std::vector<DicomFrame> frames;
  VolumeInfo info;
};

std::optional<double> parse_age_years(const std::string& age) {
  // PatientAge is nnnD, nnnW, nnnM or nnnY (PS3.5 6.2, VR AS).
  if (age.size() != 4) return std::nullopt;
  double n = std::atof(age.substr(0, 3).c_str());
  switch (age[3]) {
    case 'D': return n / 365.25;
    case 'W': return n * 7 / 365.25;
    case 'M': return n / 12.0;
    case 'Y': return n;
    default: return std::nullopt;
  }
}

// Rows, Columns, frames and pixel format of an image object.
void read_instance(DcmDataset& ds, DicomInstance& inst) {
  inst.sop_instance_uid = get_string(ds, DCM_SOPInstanceUID);
  inst.rows = get_int(ds, DCM_Rows).value_or(0);
  inst.cols = get_int(ds, DCM_Columns).value_or(0);
  inst.frames = std::max(1, get_int(ds, DCM_NumberOfFrames).value_or(1));
  inst.samples_per_pixel = get_int(ds, DCM_SamplesPerPixel).value_or(1);
  inst.photometric = get_string(ds, DCM_PhotometricInterpretation);
  inst.bits_allocated = get_int(ds, DCM_BitsAllocated).value_or(16);
  inst.bits_stored = get_int(ds, DCM_BitsStored).value_or(inst.bits_allocated);
  inst.high_bit = get_int(ds, DCM_HighBit).value_or(inst.bits_stored - 1);
  inst.is_signed = get_int(ds, DCM_PixelRepresentation).value_or(0) == 1;
}

std::string attributes_text(const DicomInstance& inst) {
  return "Rows " + std::to_string(inst.rows) + " x Columns " + std::to_string(inst.cols) + " x NumberOfFrames " +
         std::to_string(inst.frames) + " x SamplesPerPixel " + std::to_string(inst.samples_per_pixel) +
         " x BitsAllocated " + std::to_string(inst.bits_allocated);
}

// The pixel data an image header promises, checked against the file before anything is
// allocated for it (PS3.5 8.1.1: native data holds Rows*Columns*frames*samples*BitsAllocated
// bits; PS3.5 A.4: encapsulated data has at least one 8-byte item per frame). Empty when fine.
std::string size_problem(const DicomInstance& inst, std::uint64_t file_bytes) {
  const std::string file = "'" + inst.file.string() + "': ";
  if (inst.rows < 1 || inst.rows > 65535 || inst.cols < 1 || inst.cols > 65535) {
    return file + "Rows " + std::to_string(inst.rows) + ", Columns " + std::to_string(inst.cols) +
           ": expected 1..65535 each (VR US)";
  }
  if (inst.samples_per_pixel < 1 || inst.samples_per_pixel > 4 || inst.bits_allocated < 1 ||
      inst.bits_allocated > 64) {
    return file + "SamplesPerPixel " + std::to_string(inst.samples_per_pixel) + ", BitsAllocated " +
           std::to_string(inst.bits_allocated) + ": expected 1..4 samples of 1..64 bits";
  }
  const auto bits = checked_product({inst.rows, inst.cols, inst.frames, inst.samples_per_pixel, inst.bits_allocated});
  const auto decoded = checked_product({inst.rows, inst.cols, inst.frames, inst.samples_per_pixel, 4});
  const DcmXfer xfer(inst.transfer_syntax_uid.c_str());
  const bool deflated = inst.transfer_syntax_uid == "1.2.840.10008.1.2.1.99";
  if (xfer.isEncapsulated()) {
    if (static_cast<std::uint64_t>(inst.frames) > file_bytes / 8) {
      return file + "NumberOfFrames " + std::to_string(inst.frames) + " needs at least " +
             format_bytes(8ULL * static_cast<std::uint64_t>(inst.frames)) +
             " of encapsulated pixel data (one 8-byte item per frame), but the file has " + format_bytes(file_bytes);
    }
  } else if (const std::uint64_t room = deflated ? file_bytes * kMaxDeflateRatio : file_bytes;
             !bits || (*bits + 7) / 8 > room) {
    return file + attributes_text(inst) + " bits need " + (bits ? format_bytes((*bits + 7) / 8) : "more than 2^64 bits") +
           " of pixel data, but the file has " + format_bytes(file_bytes) + (deflated ? " (deflated)" : "");
  }
  if (!decoded || *decoded > max_image_bytes()) {
    return file + attributes_text(inst) + " decodes to " + (decoded ? format_bytes(*decoded) : "more than 2^64 bytes") +
           " of float32 voxels, more than the " + format_bytes(max_image_bytes()) + " a reader may allocate";
  }
  return "";
}

void read_info(DcmDataset& ds, VolumeInfo& info) {
  info.modality = get_string(ds, DCM_Modality);
  // Deliberately no PatientName, PatientBirthDate or other identifying attributes.
  info.patient_id = get_string(ds, DCM_PatientID);
  info.study_uid = get_string(ds, DCM_StudyInstanceUID);
  info.study_id = get_string(ds, DCM_StudyID);
  info.series_description = get_string(ds, DCM_SeriesDescription);
  info.manufacturer = get_string(ds, DCM_Manufacturer);
  info.series_number = get_int(ds, DCM_SeriesNumber).value_or(0);
  info.field_strength_t = get_number(ds, DCM_MagneticFieldStrength).value_or(0.0);
  info.age_years = parse_age_years(get_string(ds, DCM_PatientAge));
  info.sex = get_string(ds, DCM_PatientSex);
  info.slice_thickness_mm = get_number(ds, DCM_SliceThickness).value_or(0.0);
  info.window_centers = get_numbers(ds, DCM_WindowCenter);
  info.window_widths = get_numbers(ds, DCM_WindowWidth);
}

void set_rescale(DcmItem& item, DicomFrame& fr) {
  fr.slope = get_number(item, DCM_RescaleSlope).value_or(1.0);
  fr.intercept = get_number(item, DCM_RescaleIntercept).value_or(0.0);
  if (fr.slope == 0.0 || !std::isfinite(fr.slope)) fr.slope = 1.0;
  if (!std::isfinite(fr.intercept)) fr.intercept = 0.0;
}

// Top-level (classic) attributes of every frame.
DicomFrame base_frame(DcmDataset& ds) {
  DicomFrame base;
  auto inum = get_int(ds, DCM_InstanceNumber);
  base.has_instance_number = inum.has_value();
  base.instance_number = inum.value_or(0);
  auto ipp = get_finite(ds, DCM_ImagePositionPatient);
  auto iop = get_finite(ds, DCM_ImageOrientationPatient);
  auto ps = get_finite(ds, DCM_PixelSpacing);
  if (ps.size() < 2) ps = get_finite(ds, DCM_ImagerPixelSpacing);
  if (ipp.size() == 3) base.position = Vec3{ipp[0], ipp[1], ipp[2]};
  if (iop.size() == 6) base.orientation = std::array<double, 6>{iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]};
  if (ps.size() >= 2) base.pixel_spacing = std::array<double, 2>{ps[0], ps[1]};
  set_rescale(ds, base);
  return base;
}

// Per-frame overrides of an enhanced multi-frame object.
void enhanced_frame(DcmItem* item, DcmItem* shared, int f, DicomFrame& fr, VolumeInfo& info) {
  if (DcmItem* g = functional_group(item, shared, DCM_PlanePositionSequence)) {
    auto p = get_finite(*g, DCM_ImagePositionPatient);
    if (p.size() == 3) fr.position = Vec3{p[0], p[1], p[2]};
  }
  if (DcmItem* g = functional_group(item, shared, DCM_PlaneOrientationSequence)) {
    auto o = get_finite(*g, DCM_ImageOrientationPatient);
    if (o.size() == 6) fr.orientation = std::array<double, 6>{o[0], o[1], o[2], o[3], o[4], o[5]};
  }
  if (DcmItem* g = functional_group(item, shared, DCM_PixelMeasuresSequence)) {
    auto s = get_finite(*g, DCM_PixelSpacing);
    if (s.size() >= 2) fr.pixel_spacing = std::array<double, 2>{s[0], s[1]};
    if (auto t = get_number(*g, DCM_SliceThickness); t && f == 0) info.slice_thickness_mm = *t;
  }
  if (DcmItem* g = functional_group(item, shared, DCM_PixelValueTransformationSequence)) set_rescale(*g, fr);
  if (DcmItem* g = functional_group(item, shared, DCM_FrameVOILUTSequence); g && f == 0) {
    info.window_centers = get_numbers(*g, DCM_WindowCenter);
    info.window_widths = get_numbers(*g, DCM_WindowWidth);
  }
}

// Every frame of an image object: top-level attributes, then per-frame overrides for enhanced
// objects, or positions advanced along the normal for classic multi-frame objects.
void read_frames(DcmDataset& ds, ScannedFile& r) {
  const DicomFrame base = base_frame(ds);
  DcmItem* shared = nullptr;
  ds.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0);
  DcmSequenceOfItems* per_frame_seq = nullptr;
  ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame_seq);
  const bool enhanced = shared != nullptr || per_frame_seq != nullptr;
  // Classic multi-frame: frames advance along the normal by GridFrameOffsetVector (RT dose)
  // or SpacingBetweenSlices.
  const auto offsets = get_finite(ds, DCM_GridFrameOffsetVector);
  auto between = get_number(ds, DCM_SpacingBetweenSlices);
  if (between && !std::isfinite(*between)) between.reset();
  const int frames = r.instance.frames;
  r.frames.reserve(static_cast<std::size_t>(frames));
  for (int f = 0; f < frames; ++f) {
    DicomFrame fr = base;
    fr.frame = f;
    if (enhanced) {
      DcmItem* item = per_frame_seq && static_cast<unsigned long>(f) < per_frame_seq->card()
                          ? per_frame_seq->getItem(static_cast<unsigned long>(f)) : nullptr;
      enhanced_frame(item, shared, f, fr, r.info);
    } else if (frames > 1 && fr.position) {
      const auto o = fr.orientation.value_or(std::array<double, 6>{1, 0, 0, 0, 1, 0});
      Vec3 n{o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]};
      double d = 0;
      if (offsets.size() == static_cast<std::size_t>(frames)) d = offsets[static_cast<std::size_t>(f)];
      else if (between) d = *between * f;
      else fr.position.reset();
      if (fr.position) {
        for (int a = 0; a < 3; ++a) (*fr.position)[a] += d * n[a];
      }
    }
    r.frames.push_back(fr);
  }
  r.info.rescale_slope = r.frames[0].slope;
  r.info.rescale_intercept = r.frames[0].intercept;
}

ScannedFile scan_file(const fs::path& file) {
  ScannedFile r;
  std::error_code ec;
  const std::uint64_t file_bytes = fs::file_size(file, ec);
  if (ec || file_bytes == 0) {
    r.skip_reason = ec ? "not a readable file" : "empty file";
    return r;
  }
  DcmFileFormat ff;
  OFCondition st = detail::load_dicom_file(ff, file, DCM_PixelData);
  if (st.bad()) {
    r.skip_reason = std::string("not readable as DICOM (") + st.text() + ")";
    return r;
  }
  DcmDataset& ds = *ff.getDataset();
  DcmMetaInfo& meta = *ff.getMetaInfo();
  std::string sop_class = get_string(meta, DCM_MediaStorageSOPClassUID);
  if (sop_class.empty()) sop_class = get_string(ds, DCM_SOPClassUID);
  if (sop_class == kDicomDirSopClass) {
    r.skip_reason = "DICOMDIR";
    return r;
  }
  if (!get_number(ds, DCM_Rows) || !get_number(ds, DCM_Columns) || !get_number(ds, DCM_BitsAllocated)) {
    r.skip_reason = sop_class.empty() ? "no image (no Rows/Columns/BitsAllocated)"
                                      : "not an image object (SOP class " + sop_class + ")";
    return r;
  }
  DicomInstance& inst = r.instance;
  inst.file = file;
  inst.transfer_syntax_uid = get_string(meta, DCM_TransferSyntaxUID);
  if (inst.transfer_syntax_uid.empty()) inst.transfer_syntax_uid = DcmXfer(ds.getOriginalXfer()).getXferID();
  read_instance(ds, inst);
  r.problem = size_problem(inst, file_bytes);
  if (!r.problem.empty()) return r;
  r.ok = true;
  r.series_uid = get_string(ds, DCM_SeriesInstanceUID);
  if (r.series_uid.empty()) r.series_uid = "(no SeriesInstanceUID)";
  read_info(ds, r.info);
  r.info.series_uid = r.series_uid;
  read_frames(ds, r);
  return r;
}

std::vector<fs::path> collect_files(const fs::path& input) {
  std::error_code ec;
  if (!fs::exists(input, ec)) throw IoError("input '" + input.string() + "' does not exist");
  std::vector<fs::path> files;
  if (fs::is_directory(input, ec)) {
    for (auto it = fs::recursive_directory_iterator(input, fs::directory_options::skip_permission_denied, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_regular_file(ec)) files.push_back(it->path());
    }
    std::sort(files.begin(), files.end());
    return files;
  }
  // A single file: maybe a DICOMDIR.
  DcmFileFormat ff;
  if (detail::load_dicom_file(ff, input, DCM_PixelData).good() &&
      get_string(*ff.getMetaInfo(), DCM_MediaStorageSOPClassUID) == kDicomDirSopClass) {
    DcmFileFormat full;
    if (detail::load_dicom_file(full, input).bad()) {
      throw DicomError("cannot read DICOMDIR '" + input.string() + "'");
    }
    return files_of_dicomdir(input, *full.getDataset());
  }
  files.push_back(input);
  return files;
}

}  // namespace

std::vector<std::string> DicomSeries::transfer_syntax_names() const {
  std::vector<std::string> names;
  for (const auto& inst : instances) {
    std::string n = transfer_syntax_name(inst.transfer_syntax_uid);
    if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
  }
  return names;
}

std::vector<DicomSeries> scan_dicom(const fs::path& input, const DicomScanOptions& options) {
  detail::ensure_dcmtk_ready();
  std::vector<fs::path> files = collect_files(input);
  if (files.empty()) {
    throw DicomError("no files found in '" + input.string() + "' (expected DICOM files or a DICOMDIR)");
  }
  std::vector<ScannedFile> scanned(files.size());
  {
    ProgressBar bar(options.show_progress && files.size() > 50 ? static_cast<int64_t>(files.size()) : 0,
                    "scanning", "files");
    parallel_for(files.size(), options.threads, [&](std::size_t i) {
      scanned[i] = scan_file(files[i]);
      bar.tick();
    });
  }
  std::map<std::string, std::size_t> index_of;
  std::vector<DicomSeries> out;
  std::map<std::string, int> skipped;
  std::set<std::string> skip_reasons;  // in full, with the reader's own words
  std::string first_problem;
  for (std::size_t i = 0; i < files.size(); ++i) {
    ScannedFile& s = scanned[i];
    if (!s.problem.empty()) {
      // An image header that cannot be right: never read, always named.
      logger()->warn("skipping {}", s.problem);
      if (first_problem.empty()) first_problem = s.problem;
      skipped["impossible image header"]++;
      continue;
    }
    if (!s.ok) {
      logger()->debug("skipping '{}': {}", files[i].string(), s.skip_reason);
      skipped[s.skip_reason.substr(0, s.skip_reason.find(" ("))]++;
      skip_reasons.insert(s.skip_reason);
      continue;
    }
    auto [it, added] = index_of.emplace(s.series_uid, out.size());
    if (added) {
      out.emplace_back();
      out.back().info = s.info;
      out.back().rows = s.instance.rows;
      out.back().cols = s.instance.cols;
    }
    DicomSeries& series = out[it->second];
    std::size_t inst_index = series.instances.size();
    series.instances.push_back(s.instance);
    for (auto& f : s.frames) {
      f.instance = inst_index;
      series.frames.push_back(f);
    }
  }
  if (out.empty()) {
    if (files.size() == 1 && !first_problem.empty()) throw DicomError(first_problem);
    std::string why;
    for (const auto& [reason, n] : skipped) why += (why.empty() ? "" : "; ") + std::to_string(n) + " " + reason;
    if (!first_problem.empty()) why += " (first: " + first_problem + ")";
    // Every file skipped for the same reason (one file, say): the reason in full, e.g. the
    // reader's "the deflated data set inflates to more than ...", not only its kind.
    if (first_problem.empty() && skip_reasons.size() == 1) why = std::to_string(files.size()) + " " + *skip_reasons.begin();
    throw DicomError("no DICOM image found in '" + input.string() + "': looked at " +
                     std::to_string(files.size()) + " file(s): " + why);
  }
  std::stable_sort(out.begin(), out.end(), [](const DicomSeries& a, const DicomSeries& b) {
    if (a.info.series_number != b.info.series_number) return a.info.series_number < b.info.series_number;
    return a.info.series_uid < b.info.series_uid;
  });
  return out;
}

}  // namespace tomograd::io
