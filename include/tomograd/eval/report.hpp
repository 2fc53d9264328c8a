#pragma once
/// @file The report folder of an evaluation: metrics.json, predictions.csv, summary.md, a
/// self-contained report.html (inline SVG, opens offline) and each plot under plots/ as .svg.
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/eval/evaluation.hpp"

namespace tomograd::eval {

struct ReportOptions {
  std::string title = "tomograd evaluation";
  std::filesystem::path history_csv;  ///< optional training history (epoch + numeric columns)
  Overwrite overwrite = Overwrite::kNever;
};

/// A chart of the report: its file stem under plots/ and its SVG text.
struct ReportPlot {
  std::string name;   ///< e.g. "roc_curve" (file plots/roc_curve.svg)
  std::string title;  ///< section title, e.g. "ROC curve"
  std::string svg;
  std::string caption;  ///< one or two sentences shown under the chart in report.html
};

/// The charts for @p evaluation: training curves (when @p history_csv is given; loss columns in
/// one chart, other numeric columns in another), then per task — regression: predicted vs actual
/// (identity and least-squares fit lines), Bland–Altman, residual histogram; binary: ROC and
/// precision–recall with the operating point, confusion matrix, calibration curve; multiclass:
/// confusion matrix, one-vs-rest ROC curves, confidence calibration. Throws CsvError for an
/// unreadable history file.
std::vector<ReportPlot> report_plots(const Evaluation& evaluation, const std::filesystem::path& history_csv = {});

/// The HTML page (no scripts, no external resources).
std::string report_html(const Evaluation& evaluation, const std::vector<ReportPlot>& plots,
                        const std::string& title);

/// What write_report() wrote.
struct ReportFiles {
  std::filesystem::path metrics_json, predictions_csv, summary_md, report_html;
  std::vector<std::filesystem::path> plots;
};

/// Writes the report into @p dir (created if needed). Every file is written atomically. With
/// Overwrite::kNever nothing is written when any of the files already exists (IoError naming it).
ReportFiles write_report(const std::filesystem::path& dir, const Evaluation& evaluation,
                         const ReportOptions& options = {});

}  // namespace tomograd::eval
