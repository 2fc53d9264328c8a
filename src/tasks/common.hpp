#pragma once
// Internals shared by the task pipelines (bmd, metastasis, ...): not installed.
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/csv.hpp"

namespace tomograd::tasks::detail {

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

/// Checkpoint path for a tag of the run (best, last, final, best_val_f1, ...) or a .pt path.
std::filesystem::path checkpoint_path(const std::filesystem::path& run, const std::string& checkpoint);

/// Refuses an existing non-empty folder unless @p allow (IoError naming @p hint).
void require_empty_dir(const std::filesystem::path& dir, bool allow, const std::string& hint);

}  // namespace tomograd::tasks::detail
