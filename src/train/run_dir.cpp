// The run directory: one place for "refuse to overwrite", checkpoint tags and the resolved config.
#include "tomograd/train/run_dir.hpp"

#include <algorithm>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"

namespace fs = std::filesystem;

namespace tomograd::train {

void require_empty_dir(const fs::path& dir, bool allow, const std::string& hint) {
  std::error_code ec;
  if (allow || !fs::exists(dir, ec)) return;
  if (fs::is_directory(dir, ec) && fs::is_empty(dir, ec)) return;
  throw IoError(dir.string() + ": exists and is not empty; " + hint);
}

RunDir::RunDir(fs::path dir) : dir_(std::move(dir)) {}

RunDir RunDir::for_training(const fs::path& dir, bool resume, bool force, const std::vector<std::string>& resume_needs) {
  if (dir.empty()) throw ValueError("train: no run directory given (--out)");
  RunDir run(dir);
  if (!resume) {
    require_empty_dir(dir, force,
                      "pass --resume to continue the run or --force to train into it anyway (its checkpoints are "
                      "replaced)");
    return run;
  }
  for (const auto& f : resume_needs) {
    std::error_code ec;
    if (!fs::is_regular_file(dir / f, ec)) {
      throw IoError(dir.string() + ": cannot resume, no " + f + " (is it a run directory written by train?)");
    }
  }
  return run;
}

RunDir RunDir::open(const fs::path& dir, const std::vector<std::string>& required, const std::string& kind,
                    const std::string& written_by) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw IoError("run directory '" + dir.string() + "' does not exist");
  for (const auto& f : required) {
    if (!fs::is_regular_file(dir / f, ec)) {
      throw IoError(dir.string() + ": not a " + kind + " run directory (missing " + f + "; runs are written by " +
                    written_by + ")");
    }
  }
  return RunDir(dir);
}

RunDir RunDir::of_checkpoint(const fs::path& checkpoint_file) {
  return RunDir(fs::absolute(checkpoint_file).parent_path().parent_path());
}

void RunDir::create() const { ensure_directory(dir_); }

bool RunDir::is_checkpoint_path(const std::string& tag_or_path) {
  return tag_or_path.find('/') != std::string::npos || fs::path(tag_or_path).extension() == ".pt";
}

fs::path RunDir::checkpoint_path(const std::string& tag_or_path) const {
  return is_checkpoint_path(tag_or_path) ? fs::path(tag_or_path) : checkpoints_dir() / (tag_or_path + ".pt");
}

fs::path RunDir::checkpoint(const std::string& tag_or_path) const {
  const fs::path path = checkpoint_path(tag_or_path);
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return path;
  std::string available;
  for (const auto& tag : checkpoint_tags()) available += (available.empty() ? "" : ", ") + tag;
  throw IoError("checkpoint '" + path.string() + "' does not exist (--checkpoint " + tag_or_path + "); " +
                (available.empty() ? "the run has no checkpoints in '" + checkpoints_dir().string() + "'"
                                   : "available: " + available));
}

fs::path RunDir::best_or_last_checkpoint() const {
  const fs::path best = checkpoint_path("best");
  std::error_code ec;
  return fs::is_regular_file(best, ec) ? best : checkpoint_path("last");
}

std::vector<std::string> RunDir::checkpoint_tags() const {
  std::vector<std::string> tags;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(checkpoints_dir(), ec)) {
    if (e.path().extension() == ".pt") tags.push_back(e.path().stem().string());
  }
  std::sort(tags.begin(), tags.end());
  return tags;
}

ConfigReader RunDir::config() const {
  std::error_code ec;
  if (!fs::is_regular_file(config_file(), ec)) {
    throw IoError("'" + config_file().string() + "' does not exist: is '" + dir_.string() + "' a training run directory?");
  }
  return ConfigReader(load_yaml_file(config_file()), config_file().string());
}

std::string RunDir::config_text() const { return read_file(config_file()); }

std::vector<RunDir> list_runs(const fs::path& root, const std::vector<std::string>& required, int depth) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw IoError(root.string() + ": not a folder");
  auto is_run = [&](const fs::path& p) {
    if (!fs::is_regular_file(p / "config.yaml", ec)) return false;
    return std::all_of(required.begin(), required.end(), [&](const std::string& f) { return fs::is_regular_file(p / f, ec); });
  };
  std::vector<fs::path> found;
  std::vector<fs::path> level{root};
  for (int d = 0; d <= depth && !level.empty(); ++d) {
    std::vector<fs::path> next;
    for (const auto& dir : level) {
      if (is_run(dir)) found.push_back(dir);
      if (d == depth) continue;
      for (const auto& e : fs::directory_iterator(dir, ec)) {
        if (e.is_directory(ec)) next.push_back(e.path());
      }
    }
    level = std::move(next);
  }
  std::sort(found.begin(), found.end());
  return {found.begin(), found.end()};
}

}  // namespace tomograd::train
