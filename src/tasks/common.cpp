// Internals shared by the task pipelines.
#include "common.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::tasks::detail {

std::filesystem::path cache_dir(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "tomograd" / "preprocess";
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "tomograd" / "preprocess";
  return std::filesystem::temp_directory_path() / "tomograd-preprocess";
}

void throw_if_problems(const std::string& what, const std::vector<std::string>& problems,
                       const std::string& consequence) {
  if (problems.empty()) return;
  std::string msg = what + ": " + std::to_string(problems.size()) + " problem" + (problems.size() == 1 ? "" : "s") +
                    " found, " + consequence + ":";
  for (const auto& p : problems) msg += "\n  - " + p;
  throw ValueError(msg);
}

void write_csv(const std::filesystem::path& path, const CsvTable& table, bool force) {
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
  write_file_atomic(path, table.to_string(), force ? Overwrite::kAllow : Overwrite::kNever);
}

std::string num(double v) {
  if (!std::isfinite(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::filesystem::path checkpoint_path(const std::filesystem::path& run, const std::string& checkpoint) {
  // A bare tag (best, last, final, best_val_r2, ...) names a checkpoint of the run; else a path.
  const bool is_tag = checkpoint.find('/') == std::string::npos && std::filesystem::path(checkpoint).extension() != ".pt";
  return is_tag ? run / "checkpoints" / (checkpoint + ".pt") : std::filesystem::path(checkpoint);
}

void require_empty_dir(const std::filesystem::path& dir, bool allow, const std::string& hint) {
  if (allow || !std::filesystem::exists(dir)) return;
  if (std::filesystem::is_directory(dir) && std::filesystem::is_empty(dir)) return;
  throw IoError(dir.string() + ": exists and is not empty; " + hint);
}

}  // namespace tomograd::tasks::detail
