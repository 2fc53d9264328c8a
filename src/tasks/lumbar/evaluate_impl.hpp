#pragma once
// Internals of `lumbar evaluate` shared by evaluate.cpp (the metrics of a run) and
// evaluate_report.cpp (the files written): not installed.
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/eval/bootstrap.hpp"
#include "tomograd/eval/multiclass.hpp"
#include "tomograd/tasks/lumbar/oof.hpp"

namespace tomograd::tasks::lumbar::internal {

/// The grades as the oof.csv and report columns name them.
inline const std::array<std::string, 3> kGradeKeys{"normal_mild", "moderate", "severe"};
/// Confidence of the bootstrap intervals.
inline constexpr double kConfidence = 0.95;

/// Metrics of a group of labelled rows (a condition, a level, a condition at a level).
struct GroupMetrics {
  std::size_t n = 0;
  eval::MetricValue weighted_log_loss, accuracy, auc_macro;
  std::array<eval::MetricValue, 3> auc;
};

/// Everything `lumbar evaluate` reports about one run.
struct RunEval {
  std::filesystem::path dir, eval_dir;
  std::string name, input_kind = "?", arch = "?";
  std::vector<int> folds;
  std::vector<std::filesystem::path> files;
  std::vector<OofRow> rows;  // labelled rows only
  std::size_t unlabelled = 0, studies = 0;
  eval::MetricTable score;        // score, spinal, foraminal, subarticular, any_severe_spinal
  eval::MetricValue prior_score;  // the same rows scored with the training folds' class frequencies
  eval::BootstrapSummary bootstrap;
  std::array<GroupMetrics, 5> by_condition;
  std::array<std::array<GroupMetrics, 5>, 5> by_cell;  // [condition][level]
  std::array<GroupMetrics, 5> by_level;
  std::array<std::vector<std::vector<int64_t>>, 5> confusion;
  std::array<std::vector<eval::ClassReport>, 5> report;
  eval::MetricValue auc_macro;
};

/// Reads and scores the out-of-fold files of @p run (evaluate.cpp).
RunEval evaluate_one(const std::filesystem::path& run, int bootstrap, uint64_t seed);

/// Every file write_run() may write into RUN/eval/ (evaluate_report.cpp).
std::vector<std::filesystem::path> run_output_files(const std::filesystem::path& eval_dir);
/// Every file write_comparison() writes into @p out (evaluate_report.cpp).
std::vector<std::filesystem::path> comparison_output_files(const std::filesystem::path& out);

/// RUN/eval/: metrics.json, auc.csv, confusion.csv, classification_report.csv, report.md,
/// report.html, plots/confusion_<condition>.svg (evaluate_report.cpp).
void write_run(const RunEval& ev, int bootstrap, bool force);

/// The comparison files of several runs in @p out (evaluate_report.cpp).
void write_comparison(std::vector<const RunEval*> runs, const std::filesystem::path& out, int bootstrap,
                      uint64_t seed, bool force);

}  // namespace tomograd::tasks::lumbar::internal
