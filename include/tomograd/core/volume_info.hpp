#pragma once
/// @file What a volume carries besides its voxels, without LibTorch: the vector and matrix types
/// of its geometry and VolumeInfo (IDs, modality, rescale, windows). Included by volume.hpp (the
/// LibTorch Volume) and image.hpp (the torch-free Image).
#include <array>
#include <optional>
#include <string>
#include <vector>

namespace tomograd {

using Vec3 = std::array<double, 3>;
/// Row-major 3×3 matrix: m[row][col].
using Mat3 = std::array<std::array<double, 3>, 3>;

/// Identity direction matrix.
Mat3 identity_direction();

/// Orientation code of a direction matrix (see Volume::orientation_code()).
std::string orientation_code(const Mat3& direction);

/// Metadata that travels with a Volume. Never holds patient names or birth dates.
struct VolumeInfo {
  std::string modality;            ///< DICOM Modality, e.g. "CT", "MR"; empty if unknown
  std::string patient_id;          ///< PatientID as stored (the ID the user's label files use)
  std::string study_uid;           ///< StudyInstanceUID
  std::string series_uid;          ///< SeriesInstanceUID
  std::string study_id;            ///< StudyID (short study number)
  std::string series_description;  ///< SeriesDescription
  std::string manufacturer;
  int series_number = 0;
  double slice_thickness_mm = 0.0;     ///< SliceThickness tag; 0 when absent
  double field_strength_t = 0.0;       ///< MagneticFieldStrength; 0 when absent
  std::optional<double> age_years;     ///< from PatientAge ("045Y", "006M", ...)
  std::string sex;                     ///< PatientSex: "M", "F", "O" or empty
  std::vector<double> window_centers;  ///< WindowCenter values of the first slice
  std::vector<double> window_widths;   ///< WindowWidth values of the first slice
  double rescale_slope = 1.0;          ///< of the first slice (values in the Volume are rescaled)
  double rescale_intercept = 0.0;
  std::vector<int> instance_numbers;   ///< per slice, in volume order; empty if unknown
  std::vector<std::string> transfer_syntaxes;  ///< names of the transfer syntaxes read
  std::vector<std::string> warnings;   ///< problems found while reading (gaps, duplicates, ...)
};

}  // namespace tomograd
