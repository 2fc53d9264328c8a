#pragma once
// Shared internals of the BMD pipeline (not installed).
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "../common.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/tasks/bmd/pipeline.hpp"
#include "tomograd/tasks/slice_dataset.hpp"

namespace tomograd::tasks::bmd::detail {

using tasks::detail::build_model;
using tasks::detail::cache_dir;
using tasks::detail::num;
using tasks::detail::throw_if_problems;
using tasks::detail::write_csv;

/// Preprocesses (through the cache) every patient, in order, and selects its slices. Every
/// unreadable series and every series shorter than the 2.5D window is added to @p problems;
/// studies of failed patients are left out. Targets are standardized with @p mean and @p std
/// (NaN targets give an undefined target).
std::vector<SliceStudy> load_studies(const BmdConfig& config, const std::vector<Patient>& patients, double mean,
                                     double std, std::vector<std::string>& problems);

/// Trains on @p patients when given (cv: splits preassigned), else on the manifest's cohort.
train::TrainSummary train_cohort(const BmdConfig& config, const TrainRequest& request,
                                 const std::optional<std::vector<Patient>>& patients);

/// Patients of @p split ("all" = every patient).
std::vector<Patient> patients_of(const std::vector<Patient>& patients, const std::string& split);

/// Reads RUN/eval/<split>/predictions.csv-like files (patient_id, y_true, y_pred columns).
struct PatientPredictions {
  std::vector<std::string> ids;
  std::vector<double> y_true, y_pred;
};
PatientPredictions read_predictions(const std::filesystem::path& file, const std::string& true_col,
                                    const std::string& pred_col);

}  // namespace tomograd::tasks::bmd::detail
