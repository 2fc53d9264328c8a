#pragma once
/// @file Lumbar series geometry in patient space (LPS, mm): a series with the position of every
/// slice, display axes, box sampling across series, a study's three series and its label points.
#include <torch/types.h>

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "tomograd/core/volume.hpp"
#include "tomograd/tasks/lumbar/dataset.hpp"

namespace tomograd::tasks::lumbar {


/// One series with the patient-space (LPS, mm) position of each slice, so that points and crops
/// carry across series of a study (sagittal label -> axial slice) whatever their storage order.
struct SeriesImage {
  std::string series_id, description;
  torch::Tensor data;               ///< [D,H,W] float32, the series' 1st..99th percentile mapped to 0..1
  std::vector<Vec3> positions;      ///< LPS of pixel (row 0, col 0) of each slice, in volume order
  std::vector<int> instance_numbers;///< per slice
  Vec3 col_dir{1, 0, 0};            ///< unit vector along increasing column index
  Vec3 row_dir{0, 1, 0};            ///< unit vector along increasing row index
  Vec3 normal{0, 0, 1};             ///< col_dir x row_dir
  double col_spacing = 1, row_spacing = 1;  ///< mm per column / row
  double slice_spacing = 1;         ///< median distance between neighbouring slices
  double slice_thickness = 0;       ///< SliceThickness (0 when absent)

  int64_t depth() const { return data.size(0); }
  /// The 0-based slice of an InstanceNumber, -1 when none has it.
  int slice_of_instance(int instance_number) const;
  /// LPS of pixel (x = column, y = row) of @p slice.
  Vec3 pixel_to_lps(int slice, double x, double y) const;
  /// The nearest slice to @p p, the pixel (x, y) of p's projection on it, and p's distance to it.
  struct Pixel {
    int slice = 0;
    double x = 0, y = 0, distance_mm = 0;
  };
  Pixel lps_to_pixel(const Vec3& p) const;
};

/// Reads one series folder (DICOM), sorting slices along the normal. Throws IoError/DicomError.
SeriesImage load_series_image(const std::filesystem::path& dir, const std::string& series_id = "",
                              const std::string& description = "");

/// The series' axes in display order for @p plane ("sagittal": depth toward the patient's right,
/// rows head to feet, columns front to back; "axial": depth feet to head, rows front to back,
/// columns right to left as radiologists view them): the in-plane axes of the series itself, with
/// the signs flipped and rows/columns swapped as needed (orientation correction).
std::array<Vec3, 3> display_axes(const SeriesImage& series, const std::string& plane);

/// Samples @p series on a box of shape (D, H, W) centred on @p centre, along @p axes (depth, row,
/// column unit vectors) with @p step_mm between samples: bilinear in-plane on the slice nearest
/// each point, 0 where a point is outside the image or farther than half a slice from any slice.
torch::Tensor sample_box(const SeriesImage& series, const Vec3& centre, const std::array<Vec3, 3>& axes,
                         const std::array<int64_t, 3>& shape, const std::array<double, 3>& step_mm);


/// The three series of a study (the first of each description; absent ones are empty).
struct StudyImages {
  std::string study_id;
  std::optional<SeriesImage> t1, t2, axial;
};

/// Loads a study's series listed in @p dataset. Throws IoError naming the series on failure.
StudyImages load_study(const LumbarDataset& dataset, const std::string& study_id);

/// The 25 label points of a study in patient space (index condition * 5 + level); empty = unknown.
using LevelPoints = std::array<std::optional<Vec3>, 25>;

/// The labelled points of @p study from the dataset's coordinates (on the study's loaded series).
LevelPoints labelled_points(const LumbarDataset& dataset, const StudyImages& study);

}  // namespace tomograd::tasks::lumbar
