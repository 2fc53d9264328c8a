#pragma once
/// @file Results as DICOM a PACS viewer opens: a Secondary Capture series (RGB, text burned in)
/// placed in the source study (same Study Instance UID, a new series), each image referencing
/// the source images it was made from.
///
/// Copied from the source: PatientID and StudyInstanceUID, nothing else. Patient name, birth
/// date, sex, study date/time, accession number and referring physician are written empty
/// (type 2 attributes of the Patient and General Study modules); the references to the source
/// images carry only SOP Class and SOP Instance UIDs.
#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/io/dicom.hpp"

namespace tomograd::io {

/// A source image: SOP Class UID, SOP Instance UID and, for a multi-frame instance, the 1-based
/// frame number (0 for single-frame instances).
struct DicomReference {
  std::string sop_class_uid;
  std::string sop_instance_uid;
  int frame = 0;
};

/// The source image of every slice of the volume that read_dicom_series(@p series) gives, in its
/// slice order (series_geometry()). Reads the SOP Class UID from each file's header. Throws
/// DicomError naming a file whose header cannot be read.
std::vector<DicomReference> slice_references(const DicomSeries& series);

/// One Secondary Capture image: 8-bit RGB pixels, text lines the writer burns into the top-left
/// corner, and the source images.
struct ScImage {
  int rows = 0, cols = 0;
  std::vector<uint8_t> rgb;                 ///< rows * cols * 3, row-major, R G B
  std::vector<std::string> burned_text;     ///< e.g. {"P003 slice 12", "p(metastasis) = 0.93"}
  std::vector<DicomReference> sources;      ///< SourceImageSequence / ReferencedImageSequence
  std::string comment;                      ///< ImageComments (not burned in), may be empty
};

/// A grey image with a heat map over it (the Grad-CAM view): @p grey [H,W] is scaled min–max to
/// 0–255; @p heat [h,w] (any size, resized bilinearly to H×W) is clamped to [0,1] and blended
/// with a jet colour map at opacity @p alpha · heat, so cold regions keep their grey values. The
/// image is enlarged (nearest neighbour) to at least @p min_rows rows so burned text stays
/// readable. Throws ValueError for other shapes.
ScImage overlay_image(const torch::Tensor& grey, const torch::Tensor& heat, double alpha = 0.5, int min_rows = 256);

struct ScSeriesOptions {
  std::string patient_id;  ///< PatientID of the source (required)
  std::string study_uid;   ///< StudyInstanceUID of the source (required)
  std::string series_description = "tomograd result";
  int series_number = 900;
  std::string derivation;  ///< DerivationDescription, e.g. "Grad-CAM of tomograd metastasis model"
  Overwrite overwrite = Overwrite::kNever;
};

/// Writes @p images as Secondary Capture Image Storage files SC0001.dcm, SC0002.dcm, ... into
/// @p dir (created if needed), one new series, explicit VR little endian, each file atomically.
/// With Overwrite::kNever nothing is written when a file exists. Throws ValueError for a missing
/// patient ID or study UID, an empty image or a pixel buffer of the wrong size; IoError/DicomError
/// when writing fails.
std::vector<std::filesystem::path> write_secondary_capture(const std::filesystem::path& dir,
                                                           const std::vector<ScImage>& images,
                                                           const ScSeriesOptions& options);

}  // namespace tomograd::io
