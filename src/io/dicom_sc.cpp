// Secondary Capture results in the source study (PS3.3 A.8.1, Secondary Capture Image IOD).
#include "tomograd/io/dicom_sc.hpp"

#include <dcmtk/dcmdata/dcuid.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <map>

#include "dicom_impl.hpp"
#include "tomograd/core/build_info.hpp"
#include "tomograd/core/error.hpp"

namespace fs = std::filesystem;

namespace tomograd::io {

namespace {

using detail::new_uid;
using detail::put_string;


// Content date and time of the capture: when the result was made (not a patient attribute).
std::pair<std::string, std::string> now_date_time() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char date[16], time[16];
  std::strftime(date, sizeof date, "%Y%m%d", &tm);
  std::strftime(time, sizeof time, "%H%M%S", &tm);
  return {date, time};
}

void burn_text(cv::Mat& rgb, const std::vector<std::string>& lines) {
  if (lines.empty()) return;
  double scale = std::max(0.4, rgb.rows / 512.0);
  int baseline = 0, width = 0;
  for (const auto& l : lines) width = std::max(width, cv::getTextSize(l, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &baseline).width);
  // A long line shrinks the text to fit the width (down to a smallest legible size).
  if (width + 12 > rgb.cols) scale = std::max(0.3, scale * (rgb.cols - 12) / static_cast<double>(width));
  const int thickness = std::max(1, static_cast<int>(std::lround(scale * 1.5)));
  width = 0;
  const int line_h = cv::getTextSize("Ag", cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &baseline).height + baseline + 6;
  for (const auto& l : lines) width = std::max(width, cv::getTextSize(l, cv::FONT_HERSHEY_SIMPLEX, scale, thickness, &baseline).width);
  // A black box behind white text stays legible on any image.
  cv::rectangle(rgb, cv::Rect(0, 0, std::min(rgb.cols, width + 12), std::min(rgb.rows, line_h * static_cast<int>(lines.size()) + 6)),
                cv::Scalar(0, 0, 0), cv::FILLED);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    cv::putText(rgb, lines[i], cv::Point(6, line_h * static_cast<int>(i + 1)), cv::FONT_HERSHEY_SIMPLEX, scale,
                cv::Scalar(255, 255, 255), thickness, cv::LINE_AA);
  }
}

void add_references(DcmDataset& ds, const DcmTagKey& sequence, const std::vector<DicomReference>& refs, const fs::path& file) {
  for (const auto& r : refs) {
    DcmItem* item = nullptr;
    if (ds.findOrCreateSequenceItem(sequence, item, -2).bad() || item == nullptr) {
      throw DicomError(file.string() + ": cannot add an item to " + DcmTag(sequence).getTagName());
    }
    put_string(*item, DCM_ReferencedSOPClassUID, r.sop_class_uid, file);
    put_string(*item, DCM_ReferencedSOPInstanceUID, r.sop_instance_uid, file);
    if (r.frame > 0) put_string(*item, DCM_ReferencedFrameNumber, std::to_string(r.frame), file);
  }
}

void check_image(const ScImage& im, std::size_t k) {
  if (im.rows <= 0 || im.cols <= 0 || im.rows > 65535 || im.cols > 65535) {
    throw ValueError("secondary capture image " + std::to_string(k + 1) + ": size " + std::to_string(im.rows) + "x" +
                     std::to_string(im.cols) + " (expected 1-65535 rows and columns)");
  }
  if (im.rgb.size() != static_cast<std::size_t>(im.rows) * static_cast<std::size_t>(im.cols) * 3) {
    throw ValueError("secondary capture image " + std::to_string(k + 1) + ": " + std::to_string(im.rgb.size()) +
                     " bytes for " + std::to_string(im.rows) + "x" + std::to_string(im.cols) + " RGB pixels");
  }
}

// The modules of the IOD, in PS3.3 order: Patient, General Study, General Series, SC Equipment,
// General Image, Image Pixel, SC Image, SOP Common.
void fill_headers(DcmDataset& ds, const ScSeriesOptions& o, const std::string& series_uid, std::size_t k,
                  const ScImage& im, const fs::path& file) {
  const auto [date, time] = now_date_time();
  put_string(ds, DCM_SpecificCharacterSet, "ISO_IR 100", file);
  put_string(ds, DCM_SOPClassUID, UID_SecondaryCaptureImageStorage, file);
  put_string(ds, DCM_SOPInstanceUID, new_uid(), file);
  // Patient and study: only the linkage (PatientID, StudyInstanceUID); the type 2 rest is empty.
  // Laterality (type 2C) is written empty: dciodvfy reports its absence as an error, an empty
  // value only as a warning.
  for (const DcmTagKey& empty : {DCM_PatientName, DCM_PatientBirthDate, DCM_PatientSex, DCM_StudyDate, DCM_StudyTime,
                                 DCM_ReferringPhysicianName, DCM_StudyID, DCM_AccessionNumber, DCM_PatientOrientation,
                                 DCM_Laterality}) {
    put_string(ds, empty, "", file);
  }
  put_string(ds, DCM_PatientID, o.patient_id, file);
  put_string(ds, DCM_StudyInstanceUID, o.study_uid, file);
  put_string(ds, DCM_Modality, "OT", file);
  put_string(ds, DCM_SeriesInstanceUID, series_uid, file);
  put_string(ds, DCM_SeriesNumber, std::to_string(o.series_number), file);
  put_string(ds, DCM_SeriesDescription, o.series_description, file);
  put_string(ds, DCM_ConversionType, "WSD", file);  // workstation
  put_string(ds, DCM_SecondaryCaptureDeviceManufacturer, "tomograd", file);
  put_string(ds, DCM_SecondaryCaptureDeviceSoftwareVersions, TOMOGRAD_VERSION, file);
  put_string(ds, DCM_InstanceNumber, std::to_string(k + 1), file);
  put_string(ds, DCM_ContentDate, date, file);
  put_string(ds, DCM_ContentTime, time, file);
  put_string(ds, DCM_ImageType, "DERIVED\\SECONDARY", file);
  put_string(ds, DCM_BurnedInAnnotation, "YES", file);
  if (!o.derivation.empty()) put_string(ds, DCM_DerivationDescription, o.derivation, file);
  if (!im.comment.empty()) put_string(ds, DCM_ImageComments, im.comment, file);
  add_references(ds, DCM_SourceImageSequence, im.sources, file);
  add_references(ds, DCM_ReferencedImageSequence, im.sources, file);
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 3);
  put_string(ds, DCM_PhotometricInterpretation, "RGB", file);
  ds.putAndInsertUint16(DCM_PlanarConfiguration, 0);
  ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(im.rows));
  ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(im.cols));
  ds.putAndInsertUint16(DCM_BitsAllocated, 8);
  ds.putAndInsertUint16(DCM_BitsStored, 8);
  ds.putAndInsertUint16(DCM_HighBit, 7);
  ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
}

}  // namespace

std::vector<DicomReference> slice_references(const DicomSeries& series) {
  detail::ensure_dcmtk_ready();
  std::map<std::size_t, std::string> class_of;  // instance index -> SOP Class UID
  std::vector<DicomReference> out;
  for (std::size_t f : series_geometry(series).order) {
    const DicomFrame& frame = series.frames[f];
    const DicomInstance& inst = series.instances[frame.instance];
    auto it = class_of.find(frame.instance);
    if (it == class_of.end()) {
      DcmFileFormat ff;
      // Headers only: elements longer than 256 bytes (pixel data) are not loaded.
      const OFCondition st = ff.loadFile(inst.file.c_str(), EXS_Unknown, EGL_noChange, 256, ERM_autoDetect);
      const std::string uid = st.good() ? detail::get_string(*ff.getDataset(), DCM_SOPClassUID) : "";
      if (uid.empty()) throw DicomError(inst.file.string() + ": cannot read SOPClassUID (" + st.text() + ")");
      it = class_of.emplace(frame.instance, uid).first;
    }
    out.push_back({it->second, inst.sop_instance_uid, inst.frames > 1 ? frame.frame + 1 : 0});
  }
  return out;
}

ScImage overlay_image(const torch::Tensor& grey, const torch::Tensor& heat, double alpha, int min_rows) {
  if (grey.dim() != 2 || heat.dim() != 2 || grey.numel() == 0 || heat.numel() == 0) {
    throw ValueError("overlay image: grey and heat must be non-empty [H,W] tensors");
  }
  torch::Tensor g = grey.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const double lo = g.min().item<double>(), hi = g.max().item<double>();
  g = (hi > lo ? (g - lo) * (255.0 / (hi - lo)) : torch::zeros_like(g)).round().to(torch::kUInt8).contiguous();
  const int rows = static_cast<int>(g.size(0)), cols = static_cast<int>(g.size(1));
  torch::Tensor h = heat.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 1).contiguous();
  cv::Mat heat_small(static_cast<int>(h.size(0)), static_cast<int>(h.size(1)), CV_32F, h.data_ptr<float>());
  cv::Mat heat_f, heat8, jet_bgr, grey_rgb;
  cv::resize(heat_small, heat_f, cv::Size(cols, rows), 0, 0, cv::INTER_LINEAR);
  heat_f.convertTo(heat8, CV_8U, 255.0);
  cv::applyColorMap(heat8, jet_bgr, cv::COLORMAP_JET);
  cv::cvtColor(cv::Mat(rows, cols, CV_8U, g.data_ptr<uint8_t>()), grey_rgb, cv::COLOR_GRAY2RGB);
  cv::Mat out(rows, cols, CV_8UC3);
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < cols; ++x) {
      const double a = alpha * static_cast<double>(heat_f.at<float>(y, x));
      const cv::Vec3b j = jet_bgr.at<cv::Vec3b>(y, x), gr = grey_rgb.at<cv::Vec3b>(y, x);
      for (int c = 0; c < 3; ++c) {
        out.at<cv::Vec3b>(y, x)[c] = cv::saturate_cast<uint8_t>((1 - a) * gr[c] + a * j[2 - c]);  // jet is BGR
      }
    }
  }
  const int factor = std::max(1, (min_rows + rows - 1) / rows);
  if (factor > 1) cv::resize(out, out, cv::Size(), factor, factor, cv::INTER_NEAREST);
  ScImage im;
  im.rows = out.rows;
  im.cols = out.cols;
  im.rgb.assign(out.data, out.data + out.total() * 3);
  return im;
}

std::vector<fs::path> write_secondary_capture(const fs::path& dir, const std::vector<ScImage>& images,
                                              const ScSeriesOptions& options) {
  detail::ensure_dcmtk_ready();
  if (options.patient_id.empty() || options.study_uid.empty()) {
    throw ValueError("secondary capture series for '" + dir.string() + "': the patient ID and the study UID of the source are required");
  }
  std::vector<fs::path> files;
  for (std::size_t k = 0; k < images.size(); ++k) {
    check_image(images[k], k);
    char name[32];
    std::snprintf(name, sizeof name, "SC%04zu.dcm", k + 1);
    files.push_back(dir / name);
    if (options.overwrite == Overwrite::kNever && fs::exists(files.back())) {
      throw IoError(files.back().string() + ": exists (refusing to overwrite DICOM results)");
    }
  }
  ensure_directory(dir);
  const std::string series_uid = new_uid();
  for (std::size_t k = 0; k < images.size(); ++k) {
    const ScImage& im = images[k];
    const fs::path& file = files[k];
    cv::Mat rgb(im.rows, im.cols, CV_8UC3);
    std::copy(im.rgb.begin(), im.rgb.end(), rgb.data);
    burn_text(rgb, im.burned_text);
    DcmFileFormat ff;
    DcmDataset& ds = *ff.getDataset();
    fill_headers(ds, options, series_uid, k, im, file);
    OFCondition st = ds.putAndInsertUint8Array(DCM_PixelData, rgb.data, static_cast<unsigned long>(rgb.total() * 3));
    if (st.bad()) throw DicomError(file.string() + ": cannot set PixelData: " + st.text());
    AtomicFile out(file, options.overwrite);
    st = ff.saveFile(out.temp_path().c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_recalcGL, EPD_withoutPadding,
                     0, 0, EWM_fileformat);
    if (st.bad()) throw DicomError(file.string() + ": cannot write: " + st.text());
    out.commit();
  }
  return files;
}

}  // namespace tomograd::io
