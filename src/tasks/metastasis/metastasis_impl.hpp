#pragma once
// Shared internals of the metastasis pipeline (not installed).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "../common.hpp"
#include "tomograd/models/model.hpp"
#include "tomograd/tasks/metastasis/pipeline.hpp"
#include "tomograd/tasks/slice_dataset.hpp"

namespace tomograd::tasks::metastasis {

/// A patient's scores as the ranks of a data-parallel job send them to each other (scoring.cpp).
void to_json(nlohmann::json& j, const PatientScore& s);
void from_json(const nlohmann::json& j, PatientScore& s);

}  // namespace tomograd::tasks::metastasis

namespace tomograd::tasks::metastasis::detail {

using tasks::detail::build_model;
using tasks::detail::cache_dir;
using tasks::detail::num;
using tasks::detail::throw_if_problems;
using tasks::detail::write_csv;

/// Scans @p p.path and sets p.series to its CT series with the most slices (at least
/// @p min_slices). Adds a problem and returns false when there is none.
bool pick_ct_series(Patient& p, int min_slices, std::vector<std::string>& problems);

/// Reports or skips bad patients: with @p skip they are listed as warnings and left out.
void handle_problems(const std::string& what, const std::vector<std::string>& problems, bool skip);

/// Preprocessed studies of @p patients (through the cache), their selected slices and labels.
std::vector<SliceStudy> load_studies(const MetastasisConfig& config, const std::vector<Patient>& patients,
                                     std::vector<std::string>& problems);

/// RUN/splits.csv: patient_id,split,label,path,series.
CsvTable splits_table(const std::vector<Patient>& patients);
std::vector<Patient> read_splits(const std::filesystem::path& file);

/// A run's model (on its device, in eval mode), configuration and threshold.
struct Loaded {
  std::filesystem::path run;
  MetastasisConfig config;
  models::ModelPtr model;
  torch::Device device{torch::kCPU};
  double threshold = 0.5;
  std::string checkpoint;
};

/// Loads a run (or the run of a checkpoint file) and its @p checkpoint tag onto @p device.
Loaded load_run(const std::filesystem::path& run_or_checkpoint, const std::string& checkpoint,
                const std::string& device);

/// Slice logits of every selected slice of each study, MAX-pooled to a patient decision.
std::vector<PatientScore> score(Loaded& l, const std::vector<SliceStudy>& studies);

/// `infer --dicom-out`: the Secondary Capture series of every scored patient (dicom_out.cpp).
/// @p studies and @p scores are parallel; @p patients gives each one's folder and series.
void write_dicom_results(Loaded& l, const std::vector<Patient>& patients, const std::vector<SliceStudy>& studies,
                         const std::vector<PatientScore>& scores, const DicomOutOptions& o);

}  // namespace tomograd::tasks::metastasis::detail
