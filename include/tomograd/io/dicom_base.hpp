#pragma once
/// @file DICOM series without LibTorch (tomograd::io_base): header scan, series selection, reading
/// into an Image, writing. dicom.hpp adds the same reader and writer for the LibTorch Volume.
///
/// DCMTK stays out of this header: everything here is plain types.
#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/image.hpp"

namespace tomograd::io {

/// One image frame of a series as found by the header scan (single-frame files have one frame,
/// multi-frame files one per frame).
struct DicomFrame {
  std::size_t instance = 0;            ///< index into DicomSeries::instances
  int frame = 0;                       ///< 0-based frame number inside that instance
  int instance_number = 0;             ///< InstanceNumber (0 when absent)
  bool has_instance_number = false;
  std::optional<Vec3> position;        ///< ImagePositionPatient (per frame for enhanced objects)
  std::optional<std::array<double, 6>> orientation;  ///< ImageOrientationPatient
  std::optional<std::array<double, 2>> pixel_spacing;  ///< (row spacing, column spacing) in mm
  double slope = 1.0;                  ///< RescaleSlope for this frame
  double intercept = 0.0;              ///< RescaleIntercept for this frame
};

/// One DICOM file holding an image.
struct DicomInstance {
  std::filesystem::path file;
  std::string sop_instance_uid;
  std::string transfer_syntax_uid;
  int frames = 1;
  int rows = 0, cols = 0;
  int samples_per_pixel = 1;
  std::string photometric;         ///< PhotometricInterpretation
  int bits_allocated = 16, bits_stored = 16, high_bit = 15;
  bool is_signed = false;          ///< PixelRepresentation == 1
};

/// An image series found by scan_dicom().
struct DicomSeries {
  std::vector<DicomInstance> instances;
  std::vector<DicomFrame> frames;  ///< every frame of every instance, in scan order
  VolumeInfo info;                 ///< metadata of the first instance (IDs, modality, ...)
  int rows = 0, cols = 0;
  /// Names of the transfer syntaxes used by the instances, e.g. "JPEG-LS Lossless".
  std::vector<std::string> transfer_syntax_names() const;
};

/// Scan options.
struct DicomScanOptions {
  int threads = 0;              ///< header parsing threads (0 = all cores)
  bool show_progress = true;    ///< progress bar on a terminal
};

/// Header-only scan of a file, a folder (recursively) or a DICOMDIR: groups image instances by
/// SeriesInstanceUID. Non-DICOM files and non-image objects are skipped with a debug log line.
/// Pixel data is not read. Throws IoError if @p input does not exist, DicomError if it holds no
/// DICOM image (the message says how many files were looked at and why they were skipped).
std::vector<DicomSeries> scan_dicom(const std::filesystem::path& input,
                                    const DicomScanOptions& options = {});

/// Picks one series: by SeriesInstanceUID, by exact SeriesDescription, or by 0-based index.
/// An empty selector is allowed only when there is one series. Throws DicomError listing the
/// series when nothing (or more than one description) matches.
const DicomSeries& select_series(const std::vector<DicomSeries>& series,
                                 const std::string& selector);

/// Geometry of a series, derived from headers alone.
struct SeriesGeometry {
  std::vector<std::size_t> order;  ///< indices into DicomSeries::frames, in volume order
  Vec3 spacing_mm{1, 1, 1};        ///< (z,y,x); z from positions along the slice normal
  Vec3 origin_lps{0, 0, 0};
  Mat3 direction = identity_direction();
  std::vector<std::string> warnings;  ///< duplicates, gaps, non-uniform spacing, fallbacks
};

/// Sorts frames along the slice normal (ImagePositionPatient · (row × column cosines)), falling
/// back to InstanceNumber with a warning, and checks spacing. With @p strict, duplicate
/// positions, missing slices and non-uniform spacing throw DicomError instead of warning.
SeriesGeometry series_geometry(const DicomSeries& series, bool strict = false);

/// Read options.
struct DicomReadOptions {
  bool strict = false;          ///< geometry problems are errors, not warnings
  int threads = 0;              ///< decoding threads (0 = all cores)
  bool show_progress = true;
  /// Log geometry warnings (gaps, non-uniform spacing, ...) at warning level; they are kept in
  /// VolumeInfo::warnings either way. Readers that expect gaps (e.g. RSNA axial series, one short
  /// stack per disc) turn this off and log them at debug level.
  bool log_warnings = true;
};

/// Decodes a series into an Image of float32 physical values (HU for CT: rescale slope and
/// intercept are applied per frame). Handles signed/unsigned pixels, BitsStored masking,
/// MONOCHROME1 inversion, multi-frame and enhanced multi-frame objects and every transfer syntax
/// listed in docs/formats.md. Throws DicomError naming the file for colour images, unsupported
/// transfer syntaxes, truncated pixel data and inconsistent frame sizes.
Image read_dicom_image(const DicomSeries& series, const DicomReadOptions& options = {});

/// scan_dicom() + select_series() + read_dicom_image().
Image read_dicom_image(const std::filesystem::path& input, const std::string& selector = "",
                       const DicomReadOptions& options = {});

/// Transfer syntaxes the writer can produce.
enum class DicomEncoding {
  kExplicitLittle,  ///< 1.2.840.10008.1.2.1 (default)
  kImplicitLittle,  ///< 1.2.840.10008.1.2
  kExplicitBig,     ///< 1.2.840.10008.1.2.2 (retired, still read by most tools)
  kDeflated,        ///< 1.2.840.10008.1.2.1.99
  kRle,             ///< 1.2.840.10008.1.2.5
  kJpegLossless,    ///< 1.2.840.10008.1.2.4.70 (process 14, selection value 1)
  kJpegLsLossless,  ///< 1.2.840.10008.1.2.4.80
};

/// Parses "explicit-little", "implicit-little", "explicit-big", "deflated", "rle",
/// "jpeg-lossless", "jpeg-ls-lossless". Throws ValueError listing the names.
DicomEncoding parse_dicom_encoding(const std::string& name);

/// Write options. Empty UIDs are generated.
struct DicomWriteOptions {
  std::string modality = "CT";          ///< "CT" (CT Image Storage) or "MR" (MR Image Storage)
  std::string patient_id = "ANON";
  std::string study_uid, series_uid, study_id = "1";
  std::string series_description;
  int series_number = 1;
  /// Stored value = round((value - intercept) / slope) as int16. Unset: intercept -1024 and
  /// slope 1 when every value fits that way as an integer, otherwise the smallest slope that
  /// maps the value range into int16.
  std::optional<double> rescale_intercept, rescale_slope;
  DicomEncoding encoding = DicomEncoding::kExplicitLittle;
  Overwrite overwrite = Overwrite::kNever;  ///< for files already in the folder
};

/// Writes @p image as one file per slice ("IM0001.dcm", ...) into @p dir (created if needed).
/// Each file is written atomically. Returns the written paths in slice order. Metadata comes from
/// @p options first and the image's VolumeInfo second. Throws IoError / DicomError.
std::vector<std::filesystem::path> write_dicom_series(const ImageView& image, const std::filesystem::path& dir,
                                                      const DicomWriteOptions& options = {});

/// Name of a transfer syntax UID ("Explicit VR Little Endian", ...), or the UID itself.
std::string transfer_syntax_name(const std::string& uid);

/// DCMTK version string.
std::string dcmtk_version();

}  // namespace tomograd::io
