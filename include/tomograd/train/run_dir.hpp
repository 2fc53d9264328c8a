#pragma once
/// @file The run directory of one training run (DESIGN.md, "Run directory"): created once and
/// refused when it already holds something, its checkpoints resolved by tag, its resolved
/// configuration read back through the typed config readers, and the runs under a folder listed.
///
///   RUN/config.yaml (resolved), train.log, history.csv, checkpoints/{last,best,final,...}.pt
///   (+ .json, summary.csv), and the task's own files (splits.csv, eval/, ...).
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/config.hpp"

namespace tomograd::train {

/// The one "output folder must be new" check: throws IoError "<dir>: exists and is not empty;
/// <hint>" when @p dir exists and is not an empty folder, unless @p allow. Used for run
/// directories, cross-validation folders and synthetic cohorts alike.
void require_empty_dir(const std::filesystem::path& dir, bool allow, const std::string& hint);

/// A run directory. Holds a path only: nothing is read or created until asked.
class RunDir {
 public:
  explicit RunDir(std::filesystem::path dir);

  /// The run directory of `train --out DIR`: refuses a non-empty @p dir unless @p resume or
  /// @p force (IoError naming both flags); with @p resume, every file of @p resume_needs (for
  /// example splits.csv) must exist. Creates nothing. Throws ValueError for an empty path.
  static RunDir for_training(const std::filesystem::path& dir, bool resume, bool force,
                             const std::vector<std::string>& resume_needs = {"config.yaml"});

  /// An existing run (evaluate, predict, export): throws IoError "<dir>: not a <kind> run
  /// directory (missing <file>; runs are written by <written_by>)" for the first missing file of
  /// @p required.
  static RunDir open(const std::filesystem::path& dir, const std::vector<std::string>& required,
                     const std::string& kind, const std::string& written_by);

  /// The run of a checkpoint file RUN/checkpoints/<tag>.pt (its grandparent folder).
  static RunDir of_checkpoint(const std::filesystem::path& checkpoint_file);

  const std::filesystem::path& path() const { return dir_; }
  std::filesystem::path file(const std::string& name) const { return dir_ / name; }
  std::filesystem::path config_file() const { return dir_ / "config.yaml"; }
  std::filesystem::path history_file() const { return dir_ / "history.csv"; }
  std::filesystem::path checkpoints_dir() const { return dir_ / "checkpoints"; }

  /// Creates the folder (rank 0 only, in a data-parallel job). Throws IoError.
  void create() const;

  /// True when @p tag_or_path names a file rather than a tag: it holds a '/' or ends in ".pt".
  static bool is_checkpoint_path(const std::string& tag_or_path);
  /// RUN/checkpoints/<tag>.pt for a tag (best, last, final, best_val_f1, a curriculum stage),
  /// else @p tag_or_path itself. Checks nothing.
  std::filesystem::path checkpoint_path(const std::string& tag_or_path) const;
  /// Like checkpoint_path() but the file must exist: else IoError "checkpoint '<path>' does not
  /// exist (--checkpoint <tag>); available: best, last" (or that the run has none).
  std::filesystem::path checkpoint(const std::string& tag_or_path) const;
  /// checkpoints/best.pt, or last.pt when the monitored metric never gave a best one.
  std::filesystem::path best_or_last_checkpoint() const;
  /// Tags of the checkpoints present (stems of checkpoints/*.pt), sorted.
  std::vector<std::string> checkpoint_tags() const;

  /// A reader over the resolved config.yaml, for the typed decoders (a task's config reader,
  /// models::decode_model_spec(reader.child("model")), ...). Throws IoError / ConfigError.
  ConfigReader config() const;
  /// The text of config.yaml. Throws IoError.
  std::string config_text() const;

 private:
  std::filesystem::path dir_;
};

/// Run directories at or under @p root, at most @p depth folder levels below it: folders holding
/// config.yaml and every file of @p required. Sorted by path. Throws IoError when @p root is not a
/// folder.
std::vector<RunDir> list_runs(const std::filesystem::path& root, const std::vector<std::string>& required = {},
                              int depth = 2);

}  // namespace tomograd::train
