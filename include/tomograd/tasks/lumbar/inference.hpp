#pragma once
/// @file `lumbar infer`: a trained run's localizer and fold classifiers applied to a dataset folder
/// without labels, written as a competition submission.
#include <cstddef>
#include <filesystem>
#include <string>

namespace tomograd::tasks::lumbar {

/// `lumbar infer`: predicted points, then every fold's classifier averaged, for each study of
/// @p split of @p data. Writes the submission (row_id,normal_mild,moderate,severe; 25 rows per
/// study) and, when not empty, the predicted points as @p coordinates
/// (study_id,series_id,instance_number,condition,level,x,y). Runs on @p device (auto, cpu, cuda,
/// cuda:N; empty = the run's train.device), whatever device the run was trained on. With
/// @p dicom_out (a new or empty folder unless @p force), also writes per study
/// dicom_out/<study_id>/SC0001.dcm...: a DICOM Secondary Capture series in the source study (only
/// PatientID and StudyInstanceUID copied) of the crops it was graded on, the predicted grades
/// burned in, each image referencing the source slice at the crop's centre; 2.5D input kinds only
/// (ValueError for 'volume'). Returns the number of studies.
std::size_t infer(const std::filesystem::path& run, const std::filesystem::path& data, const std::string& split,
                  const std::filesystem::path& submission, const std::filesystem::path& coordinates = {},
                  bool force = false, const std::string& device = "", const std::filesystem::path& dicom_out = {});

}  // namespace tomograd::tasks::lumbar
