// DICOM series writer: an image (ImageView) becomes one CT or MR Image Storage file per slice.
#include <dcmtk/dcmdata/dcrleerg.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmjpeg/djrplol.h>
#include <dcmtk/dcmjpls/djrparam.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>
#include <vector>

#include "dicom_impl.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/io/dicom_base.hpp"

namespace fs = std::filesystem;

namespace tomograd::io {

namespace {

using detail::new_uid;

std::string fmt_number(double v) {
  // Decimal String values are at most 16 characters (PS3.5 6.2, VR DS).
  char buf[32];
  for (int precision = 10; precision >= 1; --precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strlen(buf) <= 16) break;
  }
  return buf;
}

std::string join_numbers(std::initializer_list<double> values) {
  std::string s;
  for (double v : values) s += (s.empty() ? "" : "\\") + fmt_number(v);
  return s;
}

using detail::put_string;

E_TransferSyntax to_xfer(DicomEncoding e) {
  switch (e) {
    case DicomEncoding::kExplicitLittle: return EXS_LittleEndianExplicit;
    case DicomEncoding::kImplicitLittle: return EXS_LittleEndianImplicit;
    case DicomEncoding::kExplicitBig: return EXS_BigEndianExplicit;
    case DicomEncoding::kDeflated: return EXS_DeflatedLittleEndianExplicit;
    case DicomEncoding::kRle: return EXS_RLELossless;
    case DicomEncoding::kJpegLossless: return EXS_JPEGProcess14SV1;
    case DicomEncoding::kJpegLsLossless: return EXS_JPEGLSLossless;
  }
  return EXS_LittleEndianExplicit;
}

// Chooses intercept and slope so every value is stored as int16.
void choose_rescale(const float* data, int64_t n, const DicomWriteOptions& o, double& intercept, double& slope) {
  float min = data[0], max = data[0];
  bool integral = true;
  for (int64_t i = 0; i < n; ++i) {
    const float v = data[i];
    if (!std::isfinite(v)) throw ValueError("volume holds NaN or infinite values");
    min = std::min(min, v);
    max = std::max(max, v);
    integral = integral && v == std::nearbyint(v);
  }
  const double lo = min, hi = max;
  if (o.rescale_intercept && o.rescale_slope) {
    intercept = *o.rescale_intercept;
    slope = *o.rescale_slope;
    if (!(slope > 0)) throw ValueError("rescale slope must be positive");
    return;
  }
  intercept = o.rescale_intercept.value_or(o.modality == "CT" ? -1024.0 : 0.0);
  if (integral && lo - intercept >= -32768 && hi - intercept <= 32767) {
    slope = o.rescale_slope.value_or(1.0);
    return;
  }
  if (o.rescale_slope) {
    slope = *o.rescale_slope;
    return;
  }
  // Centre the range so it spans the int16 codes.
  if (!o.rescale_intercept) intercept = (lo + hi) / 2.0;
  double half = std::max(hi - intercept, intercept - lo);
  slope = half > 0 ? half / 32767.0 : 1.0;
}

}  // namespace

DicomEncoding parse_dicom_encoding(const std::string& name) {
  static const std::pair<const char*, DicomEncoding> kNames[] = {
      {"explicit-little", DicomEncoding::kExplicitLittle}, {"implicit-little", DicomEncoding::kImplicitLittle},
      {"explicit-big", DicomEncoding::kExplicitBig},       {"deflated", DicomEncoding::kDeflated},
      {"rle", DicomEncoding::kRle},                        {"jpeg-lossless", DicomEncoding::kJpegLossless},
      {"jpeg-ls-lossless", DicomEncoding::kJpegLsLossless}};
  std::string valid;
  for (const auto& [n, e] : kNames) {
    if (name == n) return e;
    valid += (valid.empty() ? "" : ", ") + std::string(n);
  }
  throw ValueError("unknown DICOM encoding '" + name + "' (valid: " + valid + ")");
}

namespace {

/// What every slice file of one series shares.
struct SeriesPlan {
  std::string study_uid, series_uid, frame_uid, description;
  double intercept = 0, slope = 1;
  std::vector<int16_t> stored;  ///< int16 codes [D, H, W]
  E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  bool ct = true;
};

SeriesPlan plan_series(const ImageView& image, const DicomWriteOptions& options) {
  const VolumeInfo& info = image.info();
  SeriesPlan p;
  p.study_uid = !options.study_uid.empty() ? options.study_uid : !info.study_uid.empty() ? info.study_uid : new_uid();
  p.series_uid = !options.series_uid.empty() ? options.series_uid : new_uid();
  p.frame_uid = new_uid();
  p.description = !options.series_description.empty() ? options.series_description : info.series_description;
  const float* data = image.data();
  const int64_t n = image.numel();
  choose_rescale(data, n, options, p.intercept, p.slope);
  // In float32, as the values are: (value - intercept) / slope, rounded half to even.
  const float intercept = static_cast<float>(p.intercept), slope = static_cast<float>(p.slope);
  p.stored.resize(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const float code = std::nearbyint((data[i] - intercept) / slope);
    if (!(code >= -32768.0f && code <= 32767.0f)) {
      throw ValueError("values do not fit int16 with RescaleIntercept " + fmt_number(p.intercept) +
                       " and RescaleSlope " + fmt_number(p.slope));
    }
    p.stored[static_cast<std::size_t>(i)] = static_cast<int16_t>(code);
  }
  p.xfer = to_xfer(options.encoding);
  p.ct = options.modality == "CT";
  return p;
}

/// SOP common, patient, study and series modules (the patient module holds only the ID: no
/// name, birth date or other identifying data).
void put_series_tags(DcmDataset& ds, const SeriesPlan& p, const DicomWriteOptions& options, const VolumeInfo& info,
                     const std::string& file) {
  put_string(ds, DCM_SOPClassUID, p.ct ? UID_CTImageStorage : UID_MRImageStorage, file);
  put_string(ds, DCM_SOPInstanceUID, new_uid(), file);
  put_string(ds, DCM_SpecificCharacterSet, "ISO_IR 100", file);
  put_string(ds, DCM_ImageType, p.ct ? "ORIGINAL\\PRIMARY\\AXIAL" : "ORIGINAL\\PRIMARY", file);
  put_string(ds, DCM_Modality, options.modality, file);
  put_string(ds, DCM_Manufacturer, "tomograd", file);
  put_string(ds, DCM_PatientName, "", file);
  put_string(ds, DCM_PatientID, options.patient_id, file);
  put_string(ds, DCM_PatientBirthDate, "", file);
  put_string(ds, DCM_PatientSex, info.sex, file);
  put_string(ds, DCM_StudyInstanceUID, p.study_uid, file);
  put_string(ds, DCM_StudyID, options.study_id, file);
  put_string(ds, DCM_StudyDate, "", file);
  put_string(ds, DCM_StudyTime, "", file);
  put_string(ds, DCM_ReferringPhysicianName, "", file);
  put_string(ds, DCM_AccessionNumber, "", file);
  put_string(ds, DCM_SeriesInstanceUID, p.series_uid, file);
  put_string(ds, DCM_SeriesNumber, std::to_string(options.series_number), file);
  if (!p.description.empty()) put_string(ds, DCM_SeriesDescription, p.description, file);
  put_string(ds, DCM_FrameOfReferenceUID, p.frame_uid, file);
  put_string(ds, DCM_PositionReferenceIndicator, "", file);
}

/// Instance number, position, orientation, slice location, spacing and thickness of slice @p k.
void put_slice_geometry(DcmDataset& ds, const ImageView& image, int64_t k, const std::string& file) {
  const Mat3& d = image.geometry().direction;
  const Vec3& sp = image.geometry().spacing_mm;
  const Vec3 normal{d[0][2], d[1][2], d[2][2]};
  put_string(ds, DCM_InstanceNumber, std::to_string(k + 1), file);
  const Vec3 pos = image.geometry().index_to_lps(static_cast<double>(k), 0, 0);
  put_string(ds, DCM_ImagePositionPatient, join_numbers({pos[0], pos[1], pos[2]}), file);
  put_string(ds, DCM_ImageOrientationPatient, join_numbers({d[0][0], d[1][0], d[2][0], d[0][1], d[1][1], d[2][1]}),
             file);
  put_string(ds, DCM_SliceLocation, fmt_number(pos[0] * normal[0] + pos[1] * normal[1] + pos[2] * normal[2]), file);
  put_string(ds, DCM_PixelSpacing, join_numbers({sp[1], sp[2]}), file);
  const double thickness = image.info().slice_thickness_mm;
  put_string(ds, DCM_SliceThickness, fmt_number(thickness > 0 ? thickness : sp[0]), file);
}

/// The CT or MR image module's own attributes.
void put_modality_tags(DcmDataset& ds, const ImageView& image, bool ct, const std::string& file) {
  const VolumeInfo& info = image.info();
  if (ct) {
    put_string(ds, DCM_KVP, "", file);
    put_string(ds, DCM_AcquisitionNumber, "", file);
    put_string(ds, DCM_RescaleType, "HU", file);
    return;
  }
  put_string(ds, DCM_ScanningSequence, "SE", file);
  put_string(ds, DCM_SequenceVariant, "NONE", file);
  put_string(ds, DCM_ScanOptions, "", file);
  put_string(ds, DCM_MRAcquisitionType, "2D", file);
  put_string(ds, DCM_EchoTime, "", file);
  put_string(ds, DCM_EchoTrainLength, "", file);
  put_string(ds, DCM_SpacingBetweenSlices, fmt_number(image.geometry().spacing_mm[0]), file);
  if (info.field_strength_t > 0) put_string(ds, DCM_MagneticFieldStrength, fmt_number(info.field_strength_t), file);
}

/// Rescale, window and the image pixel module with slice @p k's int16 codes.
void put_pixels(DcmDataset& ds, const SeriesPlan& p, const ImageView& image, int64_t k, const std::string& file) {
  const VolumeInfo& info = image.info();
  const int64_t rows = image.rows(), cols = image.cols();
  put_string(ds, DCM_RescaleIntercept, fmt_number(p.intercept), file);
  put_string(ds, DCM_RescaleSlope, fmt_number(p.slope), file);
  if (!info.window_centers.empty() && !info.window_widths.empty()) {
    put_string(ds, DCM_WindowCenter, fmt_number(info.window_centers[0]), file);
    put_string(ds, DCM_WindowWidth, fmt_number(info.window_widths[0]), file);
  }
  ds.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  put_string(ds, DCM_PhotometricInterpretation, "MONOCHROME2", file);
  ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(rows));
  ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(cols));
  ds.putAndInsertUint16(DCM_BitsAllocated, 16);
  ds.putAndInsertUint16(DCM_BitsStored, 16);
  ds.putAndInsertUint16(DCM_HighBit, 15);
  ds.putAndInsertUint16(DCM_PixelRepresentation, 1);
  const auto* slice = reinterpret_cast<const Uint16*>(p.stored.data() + k * rows * cols);
  OFCondition st = ds.putAndInsertUint16Array(DCM_PixelData, slice, static_cast<unsigned long>(rows * cols));
  if (st.bad()) throw DicomError("cannot set PixelData in '" + file + "': " + st.text());
}

/// Compresses the pixel data for an encapsulated transfer syntax (RLE, JPEG, JPEG-LS).
void encode_pixels(DcmDataset& ds, E_TransferSyntax xfer, DicomEncoding encoding, const std::string& file) {
  if (!DcmXfer(xfer).isEncapsulated()) return;
  DJ_RPLossless jpeg_params;
  DJLSRepresentationParameter jls_params(2, OFTrue);
  const DcmRepresentationParameter* params = nullptr;
  if (encoding == DicomEncoding::kJpegLossless) params = &jpeg_params;
  if (encoding == DicomEncoding::kJpegLsLossless) params = &jls_params;
  OFCondition st = ds.chooseRepresentation(xfer, params);
  if (st.bad() || !ds.canWriteXfer(xfer)) {
    throw DicomError("cannot encode '" + file + "' as " + DcmXfer(xfer).getXferName() + ": " + st.text());
  }
}

}  // namespace

std::vector<fs::path> write_dicom_series(const ImageView& image, const fs::path& dir,
                                         const DicomWriteOptions& options) {
  detail::ensure_dcmtk_ready();
  if (options.modality != "CT" && options.modality != "MR") {
    throw ValueError("DICOM writer modality must be CT or MR, got '" + options.modality + "'");
  }
  if (image.empty()) throw ValueError("cannot write an empty volume as DICOM");
  ensure_directory(dir);
  const SeriesPlan plan = plan_series(image, options);
  std::vector<fs::path> written;
  for (int64_t k = 0; k < image.depth(); ++k) {
    char name[32];
    std::snprintf(name, sizeof name, "IM%04lld.dcm", static_cast<long long>(k + 1));
    const fs::path target = dir / name;
    const std::string file = target.string();
    DcmFileFormat ff;
    DcmDataset& ds = *ff.getDataset();
    put_series_tags(ds, plan, options, image.info(), file);
    put_slice_geometry(ds, image, k, file);
    put_modality_tags(ds, image, plan.ct, file);
    put_pixels(ds, plan, image, k, file);
    encode_pixels(ds, plan.xfer, options.encoding, file);
    AtomicFile out(target, options.overwrite);
    OFCondition st = ff.saveFile(out.temp_path().c_str(), plan.xfer, EET_ExplicitLength, EGL_recalcGL, EPD_noChange, 0,
                                 0, EWM_fileformat);
    if (st.bad()) throw DicomError("cannot write '" + file + "': " + st.text());
    out.commit();
    written.push_back(target);
  }
  logger()->debug("wrote {} DICOM files to '{}' ({})", written.size(), dir.string(), DcmXfer(plan.xfer).getXferName());
  return written;
}

}  // namespace tomograd::io
