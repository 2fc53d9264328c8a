#pragma once
// Internals shared by the task pipelines (bmd, metastasis, ...): not installed.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "tomograd/core/csv.hpp"
#include "tomograd/models/model.hpp"
#include "tomograd/models/model_spec.hpp"
#include "tomograd/preprocess/cache.hpp"
#include "tomograd/tasks/slice_dataset.hpp"

namespace tomograd::tasks::detail {

/// Makes the config value data.<key> absolute (relative to @p base, empty = the working folder)
/// when it is a non-empty relative path, so a run's config.yaml works from anywhere.
void make_data_path_absolute(YAML::Node root, const std::string& key, const std::filesystem::path& base = {});

/// The preprocessed-study cache folder: @p configured, else $XDG_CACHE_HOME/tomograd/preprocess,
/// else ~/.cache/tomograd/preprocess.
std::filesystem::path cache_dir(const std::string& configured);

/// Throws ValueError "<what>: N problem(s) found, <consequence>:\n  - ..." when @p problems is
/// not empty.
void throw_if_problems(const std::string& what, const std::vector<std::string>& problems,
                       const std::string& consequence = "nothing was trained");

/// Writes @p table to @p path atomically (refusing to replace a file unless @p force).
void write_csv(const std::filesystem::path& path, const CsvTable& table, bool force);

/// "%.6g" formatting for CSV cells ("" for NaN).
std::string num(double v);

/// The model of @p spec (the builtin registry); its pretrained weights are loaded only when
/// @p load_pretrained (a new run; a resumed or trained run's checkpoint holds every weight).
models::ModelPtr build_model(const models::ModelSpec& spec, bool load_pretrained);

/// Preprocesses every input through the cache at @p cache_dir (in parallel, with a progress bar)
/// and selects its slices. Returns one entry per input, in order: the study (patient_id, data,
/// slices; no labels) or nullopt when it failed, with the reason added to @p problems as
/// "patient P (path): <reason>".
std::vector<std::optional<SliceStudy>> cached_slice_studies(const std::filesystem::path& cache_dir,
                                                            const preprocess::PreprocessOptions& options,
                                                            const preprocess::SliceOptions& slices,
                                                            const std::vector<preprocess::CacheInput>& inputs,
                                                            int threads, std::vector<std::string>& problems);

/// Sets a loaded study's labels from its input (@p index into the inputs).
using StudyLabeller = std::function<void(std::size_t index, SliceStudy& study)>;

/// cached_slice_studies() of @p inputs under the task config's data.cache_dir, prep.preprocess,
/// prep.slices and data.threads, each loaded study labelled by @p label; the inputs that failed
/// are left out (their reasons in @p problems).
std::vector<SliceStudy> labelled_slice_studies(const std::filesystem::path& cache_dir,
                                               const preprocess::PreprocessOptions& options,
                                               const preprocess::SliceOptions& slices,
                                               const std::vector<preprocess::CacheInput>& inputs, int threads,
                                               std::vector<std::string>& problems, const StudyLabeller& label);

template <class TaskConfig>
std::vector<SliceStudy> labelled_slice_studies(const TaskConfig& config, const std::vector<preprocess::CacheInput>& inputs,
                                               std::vector<std::string>& problems, const StudyLabeller& label) {
  return labelled_slice_studies(cache_dir(config.data.cache_dir), config.prep.preprocess, config.prep.slices, inputs,
                                config.data.threads, problems, label);
}

}  // namespace tomograd::tasks::detail
