#pragma once
// `lumbar infer --dicom-out`: the crops a study was graded on as a DICOM Secondary Capture series
// in its source study (internal to the lumbar pipeline, not installed).
#include <torch/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/tasks/lumbar/config.hpp"
#include "tomograd/tasks/lumbar/geometry.hpp"

namespace tomograd::tasks::lumbar::internal {

/// One 2.5D crop of a study's classifier input and the source slice at its centre.
struct GradedCrop {
  int block = 0;                ///< index of the crop's (2·context+1)-slice block in the input
  std::string series_id;        ///< the series it was cut from
  std::string weighting;        ///< "T1", "T2" or "axial T2"
  int instance_number = 0;      ///< InstanceNumber of the source slice at the crop's centre
  int level = 0;                ///< disc level (kLevelNames)
  std::vector<int> conditions;  ///< conditions whose predicted grades the image shows
};

/// The crops build_input() cuts for a 2.5D input kind, in its block order, leaving out blocks that
/// have no series or no point (all zeros). Empty for the volume kind.
std::vector<GradedCrop> graded_crops(const StudyImages& st, const LevelPoints& pts, const InputOptions& in);

/// Throws ValueError when --dicom-out cannot be used with @p in: the volume kind samples a 3D
/// box across the source slices, so its images have no source slice to reference.
void check_dicom_out_input(const InputOptions& in);

/// Writes @p dir/<study_id>/SC0001.dcm...: one image per crop of @p crops (the crop's centre slice
/// of @p input [C, P+2m, P+2m], margin @p margin) with the predicted grades @p prob [25,3] burned
/// in, placed in the study of the source series (PatientID and StudyInstanceUID copied, nothing
/// else) and referencing the source slice. Returns the number of images. Throws IoError /
/// DicomError naming the series folder.
std::size_t write_study_dicom(const LumbarDataset& ds, const std::string& study_id, const torch::Tensor& input,
                              const std::vector<GradedCrop>& crops, const torch::Tensor& prob, const InputOptions& in,
                              int64_t margin, const std::filesystem::path& dir, bool force);

}  // namespace tomograd::tasks::lumbar::internal
