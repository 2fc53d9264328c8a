// Header scan, series grouping and slice geometry.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <numeric>
#include <sstream>

#include "dicom_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/io/dicom.hpp"

namespace fs = std::filesystem;

namespace tomograd::io {

using detail::get_number;
using detail::get_numbers;
using detail::get_string;

namespace {

const char* kDicomDirSopClass = "1.2.840.10008.1.3.10";

// True if the file has the "DICM" marker after the 128-byte preamble (PS3.10 7.1).
bool has_dicm_marker(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  char buf[132];
  if (!in.read(buf, sizeof buf)) return false;
  return std::memcmp(buf + 128, "DICM", 4) == 0;
}

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

ScannedFile scan_file(const fs::path& file) {
  ScannedFile r;
  if (!has_dicm_marker(file)) {
    // Files without the PS3.10 preamble exist (old ACR-NEMA style); accept them only if the
    // parsed data set looks like an image, so text files are never "read" as DICOM.
    std::ifstream in(file, std::ios::binary);
    char c = 0;
    if (!in.get(c)) {
      r.skip_reason = "empty file";
      return r;
    }
  }
  DcmFileFormat ff;
  OFCondition st = ff.loadFileUntilTag(file.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                                       ERM_autoDetect, DCM_PixelData);
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
  auto rows = get_number(ds, DCM_Rows), cols = get_number(ds, DCM_Columns);
  if (!rows || !cols || !get_number(ds, DCM_BitsAllocated)) {
    r.skip_reason = sop_class.empty() ? "no image (no Rows/Columns/BitsAllocated)"
                                      : "not an image object (SOP class " + sop_class + ")";
    return r;
  }
  std::string xfer = get_string(meta, DCM_TransferSyntaxUID);
  if (xfer.empty()) xfer = DcmXfer(ds.getOriginalXfer()).getXferID();

  r.ok = true;
  r.series_uid = get_string(ds, DCM_SeriesInstanceUID);
  if (r.series_uid.empty()) r.series_uid = "(no SeriesInstanceUID)";
  DicomInstance& inst = r.instance;
  inst.file = file;
  inst.sop_instance_uid = get_string(ds, DCM_SOPInstanceUID);
  inst.transfer_syntax_uid = xfer;
  inst.rows = static_cast<int>(*rows);
  inst.cols = static_cast<int>(*cols);
  inst.frames = static_cast<int>(get_number(ds, DCM_NumberOfFrames).value_or(1));
  if (inst.frames < 1) inst.frames = 1;
  inst.samples_per_pixel = static_cast<int>(get_number(ds, DCM_SamplesPerPixel).value_or(1));
  inst.photometric = get_string(ds, DCM_PhotometricInterpretation);
  inst.bits_allocated = static_cast<int>(get_number(ds, DCM_BitsAllocated).value_or(16));
  inst.bits_stored = static_cast<int>(get_number(ds, DCM_BitsStored).value_or(inst.bits_allocated));
  inst.high_bit = static_cast<int>(get_number(ds, DCM_HighBit).value_or(inst.bits_stored - 1));
  inst.is_signed = get_number(ds, DCM_PixelRepresentation).value_or(0) == 1;

  VolumeInfo& info = r.info;
  info.modality = get_string(ds, DCM_Modality);
  // Deliberately no PatientName, PatientBirthDate or other identifying attributes.
  info.patient_id = get_string(ds, DCM_PatientID);
  info.study_uid = get_string(ds, DCM_StudyInstanceUID);
  info.series_uid = r.series_uid;
  info.study_id = get_string(ds, DCM_StudyID);
  info.series_description = get_string(ds, DCM_SeriesDescription);
  info.manufacturer = get_string(ds, DCM_Manufacturer);
  info.series_number = static_cast<int>(get_number(ds, DCM_SeriesNumber).value_or(0));
  info.field_strength_t = get_number(ds, DCM_MagneticFieldStrength).value_or(0.0);
  info.age_years = parse_age_years(get_string(ds, DCM_PatientAge));
  info.sex = get_string(ds, DCM_PatientSex);

  // Top-level (classic) attributes, then per-frame overrides for enhanced objects.
  DicomFrame base;
  auto inum = get_number(ds, DCM_InstanceNumber);
  base.has_instance_number = inum.has_value();
  base.instance_number = static_cast<int>(inum.value_or(0));
  auto ipp = get_numbers(ds, DCM_ImagePositionPatient);
  auto iop = get_numbers(ds, DCM_ImageOrientationPatient);
  auto ps = get_numbers(ds, DCM_PixelSpacing);
  if (ps.size() < 2) ps = get_numbers(ds, DCM_ImagerPixelSpacing);
  if (ipp.size() == 3) base.position = Vec3{ipp[0], ipp[1], ipp[2]};
  if (iop.size() == 6) base.orientation = std::array<double, 6>{iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]};
  if (ps.size() >= 2) base.pixel_spacing = std::array<double, 2>{ps[0], ps[1]};
  base.slope = get_number(ds, DCM_RescaleSlope).value_or(1.0);
  base.intercept = get_number(ds, DCM_RescaleIntercept).value_or(0.0);
  if (base.slope == 0.0) base.slope = 1.0;
  info.slice_thickness_mm = get_number(ds, DCM_SliceThickness).value_or(0.0);
  info.window_centers = get_numbers(ds, DCM_WindowCenter);
  info.window_widths = get_numbers(ds, DCM_WindowWidth);

  DcmItem* shared = nullptr;
  ds.findAndGetSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0);
  DcmSequenceOfItems* per_frame_seq = nullptr;
  ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, per_frame_seq);
  const bool enhanced = shared != nullptr || per_frame_seq != nullptr;
  // Classic multi-frame: frames advance along the normal by GridFrameOffsetVector (RT dose)
  // or SpacingBetweenSlices.
  auto offsets = get_numbers(ds, DCM_GridFrameOffsetVector);
  auto between = get_number(ds, DCM_SpacingBetweenSlices);

  for (int f = 0; f < inst.frames; ++f) {
    DicomFrame fr = base;
    fr.frame = f;
    if (enhanced) {
      DcmItem* item = per_frame_seq && static_cast<unsigned long>(f) < per_frame_seq->card()
                          ? per_frame_seq->getItem(static_cast<unsigned long>(f)) : nullptr;
      if (DcmItem* g = functional_group(item, shared, DCM_PlanePositionSequence)) {
        auto p = get_numbers(*g, DCM_ImagePositionPatient);
        if (p.size() == 3) fr.position = Vec3{p[0], p[1], p[2]};
      }
      if (DcmItem* g = functional_group(item, shared, DCM_PlaneOrientationSequence)) {
        auto o = get_numbers(*g, DCM_ImageOrientationPatient);
        if (o.size() == 6) fr.orientation = std::array<double, 6>{o[0], o[1], o[2], o[3], o[4], o[5]};
      }
      if (DcmItem* g = functional_group(item, shared, DCM_PixelMeasuresSequence)) {
        auto s = get_numbers(*g, DCM_PixelSpacing);
        if (s.size() >= 2) fr.pixel_spacing = std::array<double, 2>{s[0], s[1]};
        if (auto t = get_number(*g, DCM_SliceThickness); t && f == 0) info.slice_thickness_mm = *t;
      }
      if (DcmItem* g = functional_group(item, shared, DCM_PixelValueTransformationSequence)) {
        fr.slope = get_number(*g, DCM_RescaleSlope).value_or(1.0);
        fr.intercept = get_number(*g, DCM_RescaleIntercept).value_or(0.0);
        if (fr.slope == 0.0) fr.slope = 1.0;
      }
      if (DcmItem* g = functional_group(item, shared, DCM_FrameVOILUTSequence); g && f == 0) {
        info.window_centers = get_numbers(*g, DCM_WindowCenter);
        info.window_widths = get_numbers(*g, DCM_WindowWidth);
      }
    } else if (inst.frames > 1 && fr.position) {
      const auto o = fr.orientation.value_or(std::array<double, 6>{1, 0, 0, 0, 1, 0});
      Vec3 n{o[1] * o[5] - o[2] * o[4], o[2] * o[3] - o[0] * o[5], o[0] * o[4] - o[1] * o[3]};
      double d = 0;
      if (offsets.size() == static_cast<std::size_t>(inst.frames)) d = offsets[f];
      else if (between) d = *between * f;
      else fr.position.reset();
      if (fr.position) {
        for (int a = 0; a < 3; ++a) (*fr.position)[a] += d * n[a];
      }
    }
    r.frames.push_back(fr);
  }
  if (!r.frames.empty()) {
    info.rescale_slope = r.frames[0].slope;
    info.rescale_intercept = r.frames[0].intercept;
  }
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
  if (ff.loadFileUntilTag(input.c_str(), EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
                          ERM_autoDetect, DCM_PixelData).good() &&
      get_string(*ff.getMetaInfo(), DCM_MediaStorageSOPClassUID) == kDicomDirSopClass) {
    DcmFileFormat full;
    if (full.loadFile(input.c_str()).bad()) {
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
  for (std::size_t i = 0; i < files.size(); ++i) {
    ScannedFile& s = scanned[i];
    if (!s.ok) {
      logger()->debug("skipping '{}': {}", files[i].string(), s.skip_reason);
      skipped[s.skip_reason.substr(0, s.skip_reason.find(" ("))]++;
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
    std::string why;
    for (const auto& [reason, n] : skipped) why += (why.empty() ? "" : "; ") + std::to_string(n) + " " + reason;
    throw DicomError("no DICOM image found in '" + input.string() + "': looked at " +
                     std::to_string(files.size()) + " file(s): " + why);
  }
  std::stable_sort(out.begin(), out.end(), [](const DicomSeries& a, const DicomSeries& b) {
    if (a.info.series_number != b.info.series_number) return a.info.series_number < b.info.series_number;
    return a.info.series_uid < b.info.series_uid;
  });
  return out;
}

const DicomSeries& select_series(const std::vector<DicomSeries>& series, const std::string& selector) {
  auto listing = [&] {
    std::string s;
    for (std::size_t i = 0; i < series.size(); ++i) {
      s += "\n  [" + std::to_string(i) + "] " + series[i].info.series_uid + "  '" +
           series[i].info.series_description + "'  " + series[i].info.modality + "  " +
           std::to_string(series[i].frames.size()) + " slices";
    }
    return s;
  };
  if (series.empty()) throw DicomError("no series to select from");
  if (selector.empty()) {
    if (series.size() == 1) return series[0];
    throw DicomError("input holds " + std::to_string(series.size()) +
                     " series; pick one by UID, description or index (--series):" + listing());
  }
  for (const auto& s : series) {
    if (s.info.series_uid == selector) return s;
  }
  const DicomSeries* match = nullptr;
  int matches = 0;
  for (const auto& s : series) {
    if (s.info.series_description == selector) {
      match = &s;
      ++matches;
    }
  }
  if (matches == 1) return *match;
  if (matches > 1) {
    throw DicomError("series description '" + selector + "' matches " + std::to_string(matches) +
                     " series; use the UID or index:" + listing());
  }
  if (!selector.empty() && std::all_of(selector.begin(), selector.end(), ::isdigit)) {
    std::size_t idx = std::stoul(selector);
    if (idx < series.size()) return series[idx];
  }
  throw DicomError("no series matches '" + selector + "' (UID, description or index):" + listing());
}

SeriesGeometry series_geometry(const DicomSeries& series, bool strict) {
  SeriesGeometry g;
  const auto& frames = series.frames;
  const std::size_t n = frames.size();
  auto problem = [&](const std::string& msg) {
    if (strict) throw DicomError("series " + series.info.series_uid + ": " + msg + " (--strict)");
    g.warnings.push_back(msg);
  };

  // In-plane geometry from the first frame that has it.
  std::optional<std::array<double, 6>> iop;
  std::optional<std::array<double, 2>> ps;
  for (const auto& f : frames) {
    if (!iop && f.orientation) iop = f.orientation;
    if (!ps && f.pixel_spacing) ps = f.pixel_spacing;
  }
  Vec3 row_dir{1, 0, 0}, col_dir{0, 1, 0};
  if (iop) {
    row_dir = {(*iop)[0], (*iop)[1], (*iop)[2]};
    col_dir = {(*iop)[3], (*iop)[4], (*iop)[5]};
    auto normalize = [](Vec3& v) {
      double len = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
      if (len > 0) for (double& x : v) x /= len;
    };
    normalize(row_dir);
    normalize(col_dir);
    for (const auto& f : frames) {
      if (!f.orientation) continue;
      for (int a = 0; a < 6; ++a) {
        if (std::abs((*f.orientation)[a] - (*iop)[a]) > 1e-3) {
          problem("ImageOrientationPatient differs between slices");
          goto orientation_checked;
        }
      }
    }
  orientation_checked:;
  } else {
    g.warnings.push_back("ImageOrientationPatient missing: assuming an axial identity orientation");
  }
  Vec3 normal{row_dir[1] * col_dir[2] - row_dir[2] * col_dir[1],
              row_dir[2] * col_dir[0] - row_dir[0] * col_dir[2],
              row_dir[0] * col_dir[1] - row_dir[1] * col_dir[0]};
  if (ps) {
    g.spacing_mm[1] = (*ps)[0];
    g.spacing_mm[2] = (*ps)[1];
  } else {
    g.warnings.push_back("PixelSpacing missing: assuming 1 mm");
  }
  if (!(g.spacing_mm[1] > 0) || !(g.spacing_mm[2] > 0)) {
    g.warnings.push_back("PixelSpacing not positive: assuming 1 mm");
    g.spacing_mm[1] = g.spacing_mm[2] = 1.0;
  }

  const bool all_positions = std::all_of(frames.begin(), frames.end(),
                                         [](const DicomFrame& f) { return f.position.has_value(); });
  std::vector<double> dist(n, 0.0);
  g.order.resize(n);
  std::iota(g.order.begin(), g.order.end(), 0);
  if (all_positions) {
    for (std::size_t i = 0; i < n; ++i) {
      const Vec3& p = *frames[i].position;
      dist[i] = p[0] * normal[0] + p[1] * normal[1] + p[2] * normal[2];
    }
    std::stable_sort(g.order.begin(), g.order.end(), [&](std::size_t a, std::size_t b) {
      if (dist[a] != dist[b]) return dist[a] < dist[b];
      return frames[a].instance_number < frames[b].instance_number;
    });
  } else {
    const bool single_object = series.instances.size() == 1;
    if (!single_object) {
      g.warnings.push_back("ImagePositionPatient missing on some slices: sorted by InstanceNumber");
    }
    std::stable_sort(g.order.begin(), g.order.end(), [&](std::size_t a, std::size_t b) {
      if (frames[a].instance_number != frames[b].instance_number) {
        return frames[a].instance_number < frames[b].instance_number;
      }
      return frames[a].frame < frames[b].frame;
    });
  }

  // Slice spacing from positions, never from SliceThickness (which may overlap or leave gaps).
  double thickness = series.info.slice_thickness_mm;
  g.spacing_mm[0] = thickness > 0 ? thickness : 1.0;
  if (all_positions && n > 1) {
    std::vector<std::size_t> kept{g.order[0]};
    std::vector<double> steps;
    for (std::size_t i = 1; i < n; ++i) {
      double step = dist[g.order[i]] - dist[kept.back()];
      if (std::abs(step) < 1e-3) {
        problem("duplicate slice position " + std::to_string(dist[g.order[i]]) +
                " mm along the normal (InstanceNumber " +
                std::to_string(frames[g.order[i]].instance_number) + "): dropped");
        continue;
      }
      kept.push_back(g.order[i]);
      steps.push_back(step);
    }
    g.order = kept;
    if (!steps.empty()) {
      std::vector<double> sorted = steps;
      std::nth_element(sorted.begin(), sorted.begin() + sorted.size() / 2, sorted.end());
      double median = sorted[sorted.size() / 2];
      g.spacing_mm[0] = median;
      int gaps = 0;
      bool nonuniform = false;
      for (std::size_t i = 0; i < steps.size(); ++i) {
        if (steps[i] > 1.5 * median) {
          ++gaps;
          int missing = static_cast<int>(std::lround(steps[i] / median)) - 1;
          problem("missing slice(s): gap of " + std::to_string(steps[i]) + " mm after slice " +
                  std::to_string(i) + " where " + std::to_string(median) + " mm is expected (about " +
                  std::to_string(missing) + " slice(s) missing)");
        } else if (std::abs(steps[i] - median) > 0.01 * median + 1e-3) {
          nonuniform = true;
        }
      }
      if (nonuniform) problem("non-uniform slice spacing (median " + std::to_string(median) + " mm)");
    }
  }
  if (iop) {
    for (int r = 0; r < 3; ++r) {
      g.direction[r][0] = row_dir[r];
      g.direction[r][1] = col_dir[r];
      g.direction[r][2] = normal[r];
    }
  }
  if (!g.order.empty() && frames[g.order[0]].position) g.origin_lps = *frames[g.order[0]].position;
  return g;
}

}  // namespace tomograd::io
