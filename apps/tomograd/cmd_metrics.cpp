// tomograd metrics regression|binary|multiclass: score any predictions CSV, with patient-level
// aggregation, bootstrap intervals and an optional report folder.
#include <iostream>

#include "commands.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/eval/prediction_file.hpp"
#include "tomograd/eval/report.hpp"
#include "tomograd/eval/summary.hpp"
#include "tomograd/eval/threshold.hpp"

namespace tomograd::app {

namespace {

struct MetricsOptions {
  std::string task, input, y_true, id, labels, group, aggregate = "mean";
  std::vector<std::string> y_pred;
  int bootstrap = 1000;
  uint64_t seed = 0;
  double confidence = 0.95;
  double threshold = 0.5;
  bool threshold_given = false;
  std::string select, validation;
  int bins = 10, threads = 0;
  bool json = false, force = false, allow_undefined = false;
  std::string report, history, title = "tomograd evaluation";
};

void run_metrics(const MetricsOptions& o) {
  eval::PredictionSource src;
  src.input = o.input;
  src.task = eval::parse_task_kind(o.task);
  src.y_true = o.y_true;
  src.y_pred = o.y_pred;
  src.id = o.id;
  src.labels = o.labels;
  src.group = o.group;
  src.aggregation = eval::Aggregation::parse(o.aggregate);
  eval::EvaluationOptions eo;
  eo.threshold = o.threshold;
  eo.calibration_bins = o.bins;
  eo.bootstrap.resamples = o.bootstrap;
  eo.bootstrap.seed = o.seed;
  eo.bootstrap.confidence = o.confidence;
  eo.bootstrap.threads = o.threads;
  if (!o.select.empty()) {
    if (src.task != eval::TaskKind::kBinary) throw ValueError("--select-threshold applies to binary tasks only");
    if (o.validation.empty()) throw ValueError("--select-threshold needs --validation FILE (never choose it on the test set)");
    if (o.threshold_given) throw ValueError("give either --threshold or --select-threshold, not both");
    eval::PredictionSource val = src;
    val.input = o.validation;
    val.labels.clear();  // the validation file holds its own --y-true column
    eval::EvaluationData v = eval::load_predictions(val);
    std::vector<double> scores;
    for (const auto& p : v.y_pred) scores.push_back(p[0]);
    auto rule = eval::ThresholdRule::parse(o.select);
    eo.threshold = eval::select_threshold(v.y_true, scores, rule).threshold;
    eo.threshold_source = rule.name() + " on " + std::to_string(v.y_true.size()) + " units of " + o.validation;
  }
  eval::Evaluation e = eval::evaluate(eval::load_predictions(src), eo);
  if (!o.report.empty()) {
    eval::ReportOptions ro;
    ro.title = o.title;
    ro.history_csv = o.history;
    ro.overwrite = o.force ? Overwrite::kAllow : Overwrite::kNever;
    eval::write_report(o.report, e, ro);
  }
  std::cout << (o.json ? eval::evaluation_json(e).dump(2) + "\n" : eval::format_text(e)) << std::flush;
  std::string undefined;
  for (const auto& key : e.metrics.undefined_keys()) {
    undefined += (undefined.empty() ? "" : "; ") + key + ": " + e.metrics.value(key).reason();
  }
  if (!undefined.empty() && !o.allow_undefined) {
    throw ValueError("undefined metrics (" + undefined + "); pass --allow-undefined to accept them");
  }
}

}  // namespace

void setup_metrics(CLI::App& app) {
  auto o = std::make_shared<MetricsOptions>();
  auto* cmd = app.add_subcommand(
      "metrics",
      "Score a predictions CSV: regression (R², MAE, RMSE, MSE, Pearson, Spearman, MAPE,\n"
      "Bland–Altman), binary (AUC, PR-AUC, accuracy, balanced accuracy, F1, sensitivity,\n"
      "specificity, PPV, NPV, log loss, ECE) or multiclass (one probability column per class:\n"
      "accuracy, balanced accuracy, macro F1, macro one-vs-rest AUC, log loss, ECE), each with a\n"
      "seeded percentile-bootstrap 95% CI that resamples patients. Rows of one --group are first\n"
      "aggregated to one patient. Undefined metrics (constant targets, one class) are reported with\n"
      "the reason and make the command fail unless --allow-undefined.\n"
      "Example: tomograd metrics binary --input preds.csv --y-true label --y-pred prob \\\n"
      "           --group patient_id --aggregate max --select-threshold youden --validation val.csv \\\n"
      "           --report eval/ --json");
  cmd->add_option("task", o->task, "regression, binary or multiclass")
      ->required()
      ->check(CLI::IsMember({"regression", "binary", "multiclass"}));
  cmd->add_option("--input", o->input, "predictions CSV (required)")->required();
  cmd->add_option("--y-true", o->y_true, "target column: a number (regression), 0/1 (binary), a class index or "
                                         "a --y-pred column name (multiclass) (required)")
      ->required();
  cmd->add_option("--y-pred", o->y_pred, "prediction column(s), comma-separated: one for regression/binary, one "
                                         "probability column per class for multiclass (required)")
      ->required()
      ->delimiter(',');
  cmd->add_option("--group", o->group, "aggregate rows to one prediction per value of this column, e.g. "
                                       "patient_id (default: none, each row is a patient)");
  cmd->add_option("--aggregate", o->aggregate, "how to aggregate a group: mean|max|topk:K|noisy_or (default: mean)")
      ->capture_default_str();
  cmd->add_option("--id", o->id, "id column: row names in outputs; with repeated ids and no --group the bootstrap "
                                 "resamples ids; the join key with --labels (default: none)");
  cmd->add_option("--labels", o->labels, "take --y-true from this CSV, joined on --id; every id must be in both "
                                         "files (default: --y-true is in --input)");
  cmd->add_option("--bootstrap", o->bootstrap, "bootstrap resamples for the CIs, 0 = none (default: 1000)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o->seed, "bootstrap seed (default: 0)")->capture_default_str();
  cmd->add_option("--confidence", o->confidence, "CI coverage in (0, 1) (default: 0.95)")->capture_default_str();
  auto* thr = cmd->add_option("--threshold", o->threshold,
                              "binary: a patient is positive when score >= threshold (default: 0.5)")
                  ->capture_default_str();
  cmd->add_option("--select-threshold", o->select,
                  "binary: choose the threshold on --validation with youden|max_f1|sensitivity:X and apply it "
                  "unchanged (default: off, use --threshold)");
  cmd->add_option("--validation", o->validation, "validation predictions CSV with the same columns, for "
                                                 "--select-threshold (default: none)");
  cmd->add_option("--calibration-bins", o->bins, "equal-width bins for ECE and the calibration curve (default: 10)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", o->threads, "bootstrap threads (default: 0 = all cores)")->capture_default_str();
  cmd->add_flag("--json", o->json, "print JSON (keys r2, mae, ..., auc, ..., log_loss, each with _ci_low/_ci_high; "
                                   "null plus a reason under \"undefined\" when undefined) instead of a table");
  auto* report = cmd->add_option("--report", o->report, "also write metrics.json, predictions.csv, summary.md, "
                                                        "report.html and plots/*.svg into this folder (default: none)");
  cmd->add_option("--history", o->history, "training history CSV (epoch + numeric columns) to plot in the report "
                                           "(default: none)")
      ->needs(report);
  cmd->add_option("--title", o->title, "report title (default: tomograd evaluation)");
  cmd->add_flag("--force", o->force, "overwrite existing report files (default: refuse)");
  cmd->add_flag("--allow-undefined", o->allow_undefined,
                "exit 0 even when a metric is undefined (default: exit 1 and say which and why)");
  cmd->callback([o, thr] {
    o->threshold_given = thr->count() > 0;
    run_metrics(*o);
  });
}

}  // namespace tomograd::app
