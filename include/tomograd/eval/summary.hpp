#pragma once
/// @file An Evaluation as JSON, a terminal table, a Markdown table and a predictions CSV.
#include <nlohmann/json.hpp>

#include <string>

#include "tomograd/eval/evaluation.hpp"

namespace tomograd::eval {

/// Flat snake_case keys per metric (e.g. "auc", "auc_ci_low", "auc_ci_high"; null when
/// undefined, with the reason under "undefined": {"r2": "..."}), plus "task", "n", "threshold"
/// (binary), "bootstrap" (resamples, seed, confidence, units, used/skipped per metric),
/// "confusion_matrix", "per_class" (multiclass), "bland_altman" (regression), "warnings".
nlohmann::json evaluation_json(const Evaluation& evaluation);

/// A plain-text table (metric, value, interval) for the terminal, with undefined metrics and
/// their reasons listed below it.
std::string format_text(const Evaluation& evaluation);

/// The same as a Markdown document (summary table, then confusion matrix / class report).
std::string markdown_summary(const Evaluation& evaluation);

/// One row per scored unit: id, y_true, the prediction columns and the derived prediction
/// (binary: predicted label at the threshold; multiclass: predicted class name; regression:
/// residual y_pred - y_true).
std::string predictions_csv(const Evaluation& evaluation);

/// A number for people: 4 significant digits, or "undefined".
std::string format_value(const MetricValue& value);

}  // namespace tomograd::eval
