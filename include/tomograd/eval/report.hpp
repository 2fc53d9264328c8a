#pragma once
/// @file The report folder of an evaluation: metrics.json, predictions.csv, summary.md, a
/// self-contained report.html (inline SVG, opens offline) and each plot under plots/ as .svg.
#include <filesystem>
#include <string>
#include <vector>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/eval/evaluation.hpp"
#include "tomograd/eval/report_model.hpp"

namespace tomograd::eval {

struct ReportOptions {
  std::string title = "tomograd evaluation";
  std::filesystem::path history_csv;  ///< optional training history (epoch + numeric columns)
  /// The run's TensorBoard folder, linked from report.html when it exists; empty: the folder
  /// "tensorboard" beside history_csv.
  std::filesystem::path tensorboard_dir;
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

/// The plain-language paragraph a report opens with: the model kind, the split, the number of
/// patients, the headline metric (regression R², binary AUC-ROC, multiclass balanced accuracy)
/// with its interval, and for binary tasks the threshold and its origin. Inline marks as in
/// report_model.hpp (`**bold**`).
std::string plain_summary(const Evaluation& evaluation);

/// The evaluation as a Report: the summary paragraph, split/threshold/interval facts, @p links,
/// a "Metrics" section (table, interval method, undefined metrics, warnings), "Per-class report"
/// (multiclass) and "Plots" with @p plots as figures.
Report evaluation_report(const Evaluation& evaluation, const std::vector<ReportPlot>& plots, const std::string& title,
                         std::vector<ReportLink> links = {});

/// Links to the TensorBoard folder (ReportOptions::tensorboard_dir, else beside history_csv),
/// relative to @p report_dir; empty when that folder does not exist.
std::vector<ReportLink> tensorboard_links(const std::filesystem::path& report_dir, const ReportOptions& options);

/// The HTML page of evaluation_report() (no scripts, no external resources).
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
