#pragma once
/// @file One evaluation: the data (one row per patient), the metrics with bootstrap intervals and
/// the task-specific details that reports draw.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tomograd/eval/bootstrap.hpp"
#include "tomograd/eval/metric_table.hpp"
#include "tomograd/eval/multiclass.hpp"
#include "tomograd/eval/regression.hpp"

namespace tomograd::eval {

enum class TaskKind { kRegression, kBinary, kMulticlass };

/// "regression", "binary" or "multiclass".
std::string to_string(TaskKind task);
/// Parses to_string()'s names. Throws ValueError listing them.
TaskKind parse_task_kind(const std::string& text);

/// What is scored: one row per unit (normally a patient, after aggregate_by_group()).
struct EvaluationData {
  TaskKind task = TaskKind::kRegression;
  std::vector<double> y_true;               ///< target; binary: 0/1; multiclass: class index 0..K-1
  std::vector<std::vector<double>> y_pred;  ///< [N][C]: C = 1 (value or positive-class score) or K
  std::vector<std::string> ids;             ///< row names (patients); empty: "1".."N"
  std::vector<std::string> pred_names;      ///< names of the C prediction columns; empty: defaults
  std::vector<std::string> class_names;     ///< multiclass: K names; empty: pred_names or "0".."K-1"
  /// Optional per-row patient ids when rows are not patients (e.g. slices): the bootstrap then
  /// resamples these groups. Empty: each row is a unit.
  std::vector<std::string> bootstrap_groups;
  std::string description;                  ///< free text for reports, e.g. where the rows came from
  /// Which patients are scored, named in every report and metrics.json: "test", "val",
  /// "train", "all", "out-of-fold", "external", ... ("" is reported as "unspecified").
  std::string split;
};

struct EvaluationOptions {
  double threshold = 0.5;               ///< binary: positive when score >= threshold
  std::string threshold_source = "fixed";  ///< how the threshold was chosen, for reports
  int calibration_bins = 10;            ///< bins of the reliability curve and ECE
  BootstrapOptions bootstrap;           ///< resamples = 0: no intervals
};

/// The result of evaluate().
struct Evaluation {
  EvaluationData data;
  EvaluationOptions options;
  MetricTable metrics;                          ///< headline metrics (keys in docs/eval.md)
  std::optional<BootstrapSummary> bootstrap;    ///< set when intervals were computed
  BlandAltman bland_altman;                     ///< regression only
  std::vector<std::vector<int64_t>> confusion;  ///< binary [[TN, FP], [FN, TP]]; multiclass K×K
  std::vector<ClassReport> per_class;           ///< multiclass only
  std::vector<std::string> warnings;            ///< e.g. resamples skipped for a metric

  std::size_t num_rows() const { return data.y_true.size(); }
  /// Distinct patients: the distinct bootstrap groups when rows are not patients, else the rows.
  std::size_t num_patients() const;
  /// The split's name ("unspecified" when not set).
  std::string split_name() const { return data.split.empty() ? "unspecified" : data.split; }
  /// Where the decision threshold came from, in words (binary: options.threshold_source;
  /// regression and multiclass: that no threshold is involved).
  std::string threshold_origin() const;
  /// How the intervals were computed, in words (or that there are none).
  std::string interval_method() const;
  /// K for multiclass, 2 for binary, 0 for regression.
  std::size_t num_classes() const;
  /// The name of row @p r (ids or "1".."N").
  std::string row_name(std::size_t r) const;
};

/// Scores @p data: headline metrics (regression_metrics, binary_metrics plus "ece" and the
/// threshold, or multiclass_metrics), then bootstrap intervals for each of them. Throws
/// ValueError for inconsistent data: lengths, prediction width (1 for regression and binary, K >= 2
/// for multiclass), labels that are not 0/1 (binary) or not an index 0..K-1 (multiclass), naming
/// the row. Undefined metrics are not errors: they appear as undefined values with a reason.
Evaluation evaluate(EvaluationData data, const EvaluationOptions& options);

}  // namespace tomograd::eval
