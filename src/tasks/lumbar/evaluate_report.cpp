// `lumbar evaluate`'s files: RUN/eval/ (metrics.json, CSV tables, and the report: report.md,
// report.html, plots/*.svg, built on eval's report model) for each run, and the comparison of
// several runs.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "../common.hpp"
#include "evaluate_impl.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/eval/report_model.hpp"
#include "tomograd/eval/svg_plot.hpp"
#include "tomograd/tasks/lumbar/labels.hpp"

namespace tomograd::tasks::lumbar::internal {
namespace fs = std::filesystem;
using eval::MetricValue;
using json = nlohmann::json;

namespace {

/// The folder of the report's figure files, under RUN/eval/.
const char* const kFigureDir = "plots";

/// Sets obj[key] to the value, or to null with the reason under obj["undefined"][key].
void put(json& obj, const std::string& key, const MetricValue& v) {
  if (v) {
    obj[key] = v.value();
  } else {
    obj[key] = nullptr;
    obj["undefined"][key] = v.reason();
  }
}

void put_with_ci(json& obj, const eval::MetricEntry& e) {
  put(obj, e.key, e.value);
  if (e.ci && e.ci->low && e.ci->high) {
    obj[e.key + "_ci"] = {e.ci->low.value(), e.ci->high.value()};
  } else {
    obj[e.key + "_ci"] = nullptr;
    if (e.ci) obj["undefined"][e.key + "_ci"] = e.ci->low.reason();
  }
}

json group_json(const GroupMetrics& g) {
  json j;
  j["n"] = g.n;
  put(j, "weighted_log_loss", g.weighted_log_loss);
  put(j, "accuracy", g.accuracy);
  for (int k = 0; k < 3; ++k) put(j, "auc_" + kGradeKeys[k], g.auc[k]);
  put(j, "auc_macro", g.auc_macro);
  return j;
}

std::string fixed(const MetricValue& v, int digits = 4) {
  if (!v) return "n/a";
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v.value();
  return s.str();
}

std::string ci_text(const eval::MetricEntry& e, int digits = 4) {
  if (!e.ci || !e.ci->low || !e.ci->high) return "";
  return "[" + fixed(e.ci->low, digits) + ", " + fixed(e.ci->high, digits) + "]";
}

std::string with_ci(const eval::MetricEntry& e, int digits = 4) {
  const std::string ci = ci_text(e, digits);
  return fixed(e.value, digits) + (ci.empty() ? "" : " " + ci);
}

std::string joined(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

/// An empty table with the given header; the first @p text_columns columns are text.
eval::ReportTable table_with(std::vector<std::string> header, std::size_t text_columns = 1) {
  eval::ReportTable t;
  t.header = std::move(header);
  t.text_columns = text_columns;
  return t;
}

eval::ReportTable score_table(const RunEval& ev) {
  eval::ReportTable t = table_with({"term", "value", "95 % CI"});
  for (const auto& e : ev.score.entries()) t.add({e.key, fixed(e.value), ci_text(e)}, e.key == "score");
  return t;
}

eval::ReportTable group_table(const std::vector<std::pair<std::string, const GroupMetrics*>>& groups,
                              const std::string& first_header) {
  eval::ReportTable t = table_with({first_header, "n", "weighted log loss", "accuracy", "AUC normal/mild",
                                    "AUC moderate", "AUC severe", "macro AUC"});
  for (const auto& [name, g] : groups) {
    t.add({name, std::to_string(g->n), fixed(g->weighted_log_loss), fixed(g->accuracy), fixed(g->auc[0]),
           fixed(g->auc[1]), fixed(g->auc[2]), fixed(g->auc_macro)},
          name.find("(all levels)") != std::string::npos);
  }
  return t;
}

eval::ReportTable confusion_table(const std::vector<std::vector<int64_t>>& cm) {
  eval::ReportTable t = table_with({"true \\ predicted", grade_names()[0], grade_names()[1], grade_names()[2]});
  for (int i = 0; i < 3; ++i) {
    t.add({grade_names()[i], std::to_string(cm[i][0]), std::to_string(cm[i][1]), std::to_string(cm[i][2])});
  }
  return t;
}

eval::ReportTable classification_table(const RunEval& ev) {
  eval::ReportTable t = table_with({"condition", "class", "precision", "recall", "F1", "AUC", "support"}, 2);
  for (int c = 0; c < 5; ++c) {
    for (int k = 0; k < 3; ++k) {
      const auto& r = ev.report[c][k];
      t.add({condition_keys()[c], grade_names()[k], fixed(r.precision), fixed(r.recall), fixed(r.f1), fixed(r.auc),
             std::to_string(r.support)});
    }
  }
  return t;
}

void write_text(const fs::path& path, const std::string& text, bool force) {
  write_file_atomic(path, text, force ? Overwrite::kAllow : Overwrite::kNever);
}

json run_metrics_json(const RunEval& ev, int bootstrap) {
  json j;
  j["run"] = ev.dir.string();
  j["name"] = ev.name;
  j["input_kind"] = ev.input_kind;
  j["arch"] = ev.arch;
  j["folds"] = ev.folds;
  j["oof_files"] = json::array();
  for (const auto& f : ev.files) j["oof_files"].push_back(f.string());
  j["studies"] = ev.studies;
  j["labelled_rows"] = ev.rows.size();
  j["unlabelled_rows"] = ev.unlabelled;
  j["bootstrap"] = {{"resamples", bootstrap > 0 && !ev.rows.empty() ? bootstrap : 0},
                    {"seed", ev.bootstrap.seed},
                    {"confidence", kConfidence},
                    {"unit", "study"}};
  j["split"] = "out-of-fold";
  j["n_patients"] = ev.studies;
  j["patients_note"] = "one study per patient (the RSNA layout has no patient id); each study is predicted only by "
                       "the fold that held it out";
  j["threshold_source"] = "none: the score is a log loss on the probabilities; confusion matrices and the "
                          "classification report use the most probable grade";
  j["interval_method"] = j["bootstrap"]["resamples"].get<int>() > 0
                             ? "95% percentile bootstrap: " + std::to_string(bootstrap) + " resamples of the " +
                                   std::to_string(ev.studies) + " studies with replacement, seed " +
                                   std::to_string(ev.bootstrap.seed)
                             : std::string("none (no bootstrap resamples were asked for)");
  for (const auto& e : ev.score.entries()) put_with_ci(j, e);
  put(j, "prior_score", ev.prior_score);
  j["prior_score_note"] = "the same rows scored with each cell's grade frequencies in the training folds (plus one "
                          "per grade): a model that ignores the images; lower is better";
  put(j, "auc_macro", ev.auc_macro);
  json conditions = json::object();
  for (int c = 0; c < 5; ++c) {
    json jc;
    jc["all"] = group_json(ev.by_condition[c]);
    for (int l = 0; l < 5; ++l) jc["levels"][level_keys()[l]] = group_json(ev.by_cell[c][l]);
    conditions[condition_keys()[c]] = jc;
  }
  j["conditions"] = conditions;
  for (int l = 0; l < 5; ++l) j["levels"][level_keys()[l]] = group_json(ev.by_level[l]);
  for (int c = 0; c < 5; ++c) j["confusion"][condition_keys()[c]] = ev.confusion[c];
  return j;
}

/// auc.csv, confusion.csv and classification_report.csv of a run.
void write_run_csvs(const RunEval& ev, bool force) {
  CsvTable auc({"condition", "level", "n", "auc_normal_mild", "auc_moderate", "auc_severe", "auc_macro"}, {});
  auto auc_row = [&](const std::string& c, const std::string& l, const GroupMetrics& g) {
    auc.add_row({c, l, std::to_string(g.n), detail::num(g.auc[0].value_or(NAN)), detail::num(g.auc[1].value_or(NAN)),
                 detail::num(g.auc[2].value_or(NAN)), detail::num(g.auc_macro.value_or(NAN))});
  };
  CsvTable confusion({"condition", "true", "pred_normal_mild", "pred_moderate", "pred_severe"}, {});
  CsvTable report({"condition", "class", "precision", "recall", "f1", "auc", "support"}, {});
  for (int c = 0; c < 5; ++c) {
    const std::string& ck = condition_keys()[c];
    for (int l = 0; l < 5; ++l) auc_row(ck, level_keys()[l], ev.by_cell[c][l]);
    auc_row(ck, "all", ev.by_condition[c]);
    for (int i = 0; i < 3; ++i) {
      const auto& cm = ev.confusion[c][i];
      confusion.add_row({ck, kGradeKeys[i], std::to_string(cm[0]), std::to_string(cm[1]), std::to_string(cm[2])});
      const auto& r = ev.report[c][i];
      report.add_row({ck, kGradeKeys[i], detail::num(r.precision.value_or(NAN)), detail::num(r.recall.value_or(NAN)),
                      detail::num(r.f1.value_or(NAN)), detail::num(r.auc.value_or(NAN)), std::to_string(r.support)});
    }
  }
  detail::write_csv(ev.eval_dir / "auc.csv", auc, force);
  detail::write_csv(ev.eval_dir / "confusion.csv", confusion, force);
  detail::write_csv(ev.eval_dir / "classification_report.csv", report, force);
}

eval::ReportWriteOptions report_options(const std::string& stem, bool force) {
  eval::ReportWriteOptions o;
  o.stem = stem;
  o.formats = {eval::ReportFormat::kMarkdown, eval::ReportFormat::kHtml};
  o.figure_dir = kFigureDir;
  o.overwrite = force ? Overwrite::kAllow : Overwrite::kNever;
  return o;
}

std::string figure_name(int condition) { return "confusion_" + condition_keys()[condition]; }

std::string intervals_text(const RunEval& ev, int bootstrap) {
  if (bootstrap <= 0 || ev.rows.empty()) return "no bootstrap";
  return "95 % percentile bootstrap intervals over " + std::to_string(bootstrap) + " study resamples (seed " +
         std::to_string(ev.bootstrap.seed) + ")";
}

/// The title, summary and facts of a run's report.
void add_run_summary(eval::Report& r, const RunEval& ev, const std::string& intervals) {
  std::ostringstream about;
  about << "Run `" << ev.dir.string() << "`, input " << ev.input_kind << ", model " << ev.arch
        << ". Out-of-fold predictions of " << ev.folds.size() << " fold" << (ev.folds.size() == 1 ? "" : "s") << " ("
        << joined(ev.folds) << "), " << ev.studies << " studies, " << ev.rows.size() << " labelled rows";
  if (ev.unlabelled) about << " (" << ev.unlabelled << " rows without a label left out)";
  about << ". Competition score (weighted log loss, lower is better) " << with_ci(ev.score.at("score"))
        << ", against " << fixed(ev.prior_score) << " for the prior-only baseline; " << intervals << ".";
  r.title = "Lumbar evaluation: " + ev.name;
  r.summary = about.str();
  // Each fold's TensorBoard folder, relative to RUN/eval/ where the report is written.
  for (int k : ev.folds) {
    const std::string fold = "fold_" + std::to_string(k);
    if (fs::is_directory(ev.dir / fold / "tensorboard")) {
      r.links.push_back({"TensorBoard logs of " + fold + " (open with `tensorboard --logdir` on this folder)",
                         "../" + fold + "/tensorboard/"});
    }
  }
  r.meta = {"Split: out-of-fold (" + std::to_string(ev.studies) + " studies, one per patient)",
            "Threshold: none (log loss on probabilities; arg-max grade for the confusion matrices)",
            "Intervals: " + intervals};
}

void add_group_section(eval::Report& r, const RunEval& ev) {
  std::vector<std::pair<std::string, const GroupMetrics*>> cells, levels;
  for (int c = 0; c < 5; ++c) {
    for (int l = 0; l < 5; ++l) cells.emplace_back(condition_keys()[c] + " " + level_keys()[l], &ev.by_cell[c][l]);
    cells.emplace_back(condition_keys()[c] + " (all levels)", &ev.by_condition[c]);
  }
  for (int l = 0; l < 5; ++l) levels.emplace_back(level_keys()[l], &ev.by_level[l]);
  r.section("Per condition and level")
      .table(group_table(cells, "condition, level"))
      .table(group_table(levels, "level (all conditions)"))
      .note("n/a: undefined (e.g. a grade absent from the rows); metrics.json gives the reason. Weighted log loss "
            "uses the competition's weights 1, 2, 4 for normal/mild, moderate, severe.");
}

/// The five confusion matrices: heat maps side by side (a condition without labelled rows has
/// none), then each as a table.
void add_confusion_section(eval::Report& r, const RunEval& ev) {
  auto& s = r.section("Confusion matrices");
  s.note("Rows: true grade; columns: arg-max predicted grade.");
  const std::vector<std::string> grades(grade_names().begin(), grade_names().end());
  std::vector<std::string> empty;
  for (int c = 0; c < 5; ++c) {
    const std::string& key = condition_keys()[c];
    if (ev.by_condition[c].n == 0) {
      empty.push_back(key);
      continue;
    }
    s.figure({figure_name(c), key, eval::confusion_matrix_svg(ev.confusion[c], grades, key, 360), "", ""});
  }
  for (const auto& key : empty) s.note(key + ": no labelled rows");
  for (int c = 0; c < 5; ++c) s.paragraph("**" + condition_keys()[c] + "**").table(confusion_table(ev.confusion[c]));
}

eval::Report run_report(const RunEval& ev, int bootstrap) {
  eval::Report r;
  const std::string intervals = intervals_text(ev, bootstrap);
  add_run_summary(r, ev, intervals);
  r.section("Competition score (lower is better)")
      .paragraph("**score " + with_ci(ev.score.at("score")) + "**, " + intervals + ", macro AUC " +
                 fixed(ev.auc_macro) +
                 ". Prior-only baseline (the training folds' grade frequencies per condition and level, no image): " +
                 fixed(ev.prior_score) + ".")
      .table(score_table(ev));
  add_group_section(r, ev);
  add_confusion_section(r, ev);
  r.section("Classification report").table(classification_table(ev));
  return r;
}

/// Runs sorted by score ascending (lower is better); runs without a score last, in the order given.
void sort_by_score(std::vector<const RunEval*>& runs) {
  auto key = [](const RunEval* r) {
    const auto& s = r->score.value("score");
    return s ? s.value() : std::numeric_limits<double>::infinity();
  };
  std::stable_sort(runs.begin(), runs.end(), [&](const RunEval* a, const RunEval* b) { return key(a) < key(b); });
}

std::string num_or_empty(const MetricValue& v) { return detail::num(v.value_or(NAN)); }

/// comparison.csv's row of a run.
std::vector<std::string> comparison_csv_row(const RunEval& r, std::size_t rank, bool best) {
  const auto& s = r.score.at("score");
  const bool ci = s.ci && s.ci->low && s.ci->high;
  return {std::to_string(rank), r.name, r.input_kind, r.arch, std::to_string(r.folds.size()),
          std::to_string(r.studies), std::to_string(r.rows.size()), num_or_empty(s.value),
          ci ? detail::num(s.ci->low.value()) : "", ci ? detail::num(s.ci->high.value()) : "",
          num_or_empty(r.score.value("spinal")), num_or_empty(r.score.value("foraminal")),
          num_or_empty(r.score.value("subarticular")), num_or_empty(r.score.value("any_severe_spinal")),
          num_or_empty(r.auc_macro), best ? "1" : "0", r.dir.string()};
}

/// comparison.json's entry of a run.
json comparison_json_run(const RunEval& r, std::size_t rank, bool best) {
  json jr;
  jr["rank"] = rank;
  jr["name"] = r.name;
  jr["path"] = r.dir.string();
  jr["input_kind"] = r.input_kind;
  jr["arch"] = r.arch;
  jr["folds"] = r.folds;
  jr["studies"] = r.studies;
  jr["labelled_rows"] = r.rows.size();
  for (const auto& e : r.score.entries()) put_with_ci(jr, e);
  put(jr, "auc_macro", r.auc_macro);
  jr["best"] = best;
  return jr;
}

json comparison_json_head(int bootstrap, uint64_t seed) {
  json j;
  j["bootstrap"] = {{"resamples", bootstrap}, {"seed", seed}, {"confidence", kConfidence}, {"unit", "study"}};
  j["sorted_by"] = "score ascending (lower is better)";
  j["split"] = "out-of-fold";
  j["threshold_source"] = "none: log loss on the probabilities";
  j["interval_method"] = bootstrap > 0 ? "95% percentile bootstrap over studies, " + std::to_string(bootstrap) +
                                             " resamples, seed " + std::to_string(seed)
                                       : std::string("none (no bootstrap resamples were asked for)");
  return j;
}

eval::Report comparison_report(std::size_t n_runs, eval::ReportTable table, int bootstrap, uint64_t seed) {
  eval::Report r;
  r.title = "Lumbar runs compared";
  r.summary =
      std::to_string(n_runs) + " runs, out-of-fold predictions, sorted by the competition score (lower is better)" +
      (bootstrap > 0 ? "; 95 % percentile bootstrap intervals over " + std::to_string(bootstrap) +
                           " study resamples (seed " + std::to_string(seed) + ")"
                     : "") +
      ". Macro AUC: mean over the five conditions of the one-vs-rest AUCs' mean.";
  r.section("Runs").table(std::move(table)).note("Each run's full report is RUN/eval/report.html.");
  return r;
}

}  // namespace

std::vector<fs::path> run_output_files(const fs::path& eval_dir) {
  std::vector<fs::path> files;
  for (const char* f : {"metrics.json", "auc.csv", "confusion.csv", "classification_report.csv", "report.md",
                        "report.html"}) {
    files.push_back(eval_dir / f);
  }
  for (int c = 0; c < 5; ++c) files.push_back(eval_dir / kFigureDir / (figure_name(c) + ".svg"));
  return files;
}

std::vector<fs::path> comparison_output_files(const fs::path& out) {
  return {out / "comparison.md", out / "comparison.json", out / "comparison.csv", out / "comparison.html"};
}

void write_run(const RunEval& ev, int bootstrap, bool force) {
  ensure_directory(ev.eval_dir);
  write_text(ev.eval_dir / "metrics.json", run_metrics_json(ev, bootstrap).dump(2) + "\n", force);
  write_run_csvs(ev, force);
  eval::write_report_files(ev.eval_dir, run_report(ev, bootstrap), report_options("report", force));
  logger()->info("lumbar evaluate {}: score {} ({} studies, folds {}) -> {}", ev.name, with_ci(ev.score.at("score")),
                 ev.studies, joined(ev.folds), ev.eval_dir.string());
}

void write_comparison(std::vector<const RunEval*> runs, const fs::path& out, int bootstrap, uint64_t seed, bool force) {
  sort_by_score(runs);
  const bool has_best = runs.front()->score.value("score").defined();
  eval::ReportTable table = table_with({"rank", "run", "input", "arch", "folds", "studies", "score [95 % CI]", "spinal",
                                        "foraminal", "subarticular", "any severe spinal", "macro AUC"},
                                       4);
  CsvTable csv({"rank", "run", "input_kind", "arch", "folds", "studies", "labelled_rows", "score", "score_ci_low",
                "score_ci_high", "spinal", "foraminal", "subarticular", "any_severe_spinal", "auc_macro", "best", "path"},
               {});
  json j = comparison_json_head(bootstrap, seed);
  j["best"] = has_best ? json(runs.front()->name) : json(nullptr);
  j["runs"] = json::array();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunEval& r = *runs[i];
    const bool best = has_best && i == 0;
    table.add({std::to_string(i + 1), r.name + (best ? " (best)" : ""), r.input_kind, r.arch,
               std::to_string(r.folds.size()), std::to_string(r.studies), with_ci(r.score.at("score")),
               fixed(r.score.value("spinal")), fixed(r.score.value("foraminal")), fixed(r.score.value("subarticular")),
               fixed(r.score.value("any_severe_spinal")), fixed(r.auc_macro)},
              best);
    csv.add_row(comparison_csv_row(r, i + 1, best));
    j["runs"].push_back(comparison_json_run(r, i + 1, best));
  }
  ensure_directory(out);
  const eval::Report report = comparison_report(runs.size(), std::move(table), bootstrap, seed);
  eval::write_report_files(out, report, report_options("comparison", force));
  write_text(out / "comparison.json", j.dump(2) + "\n", force);
  detail::write_csv(out / "comparison.csv", csv, force);
  logger()->info("lumbar evaluate: {} runs compared, best {} -> {}", runs.size(),
                 has_best ? runs.front()->name : "(none scored)", (out / "comparison.md").string());
}

}  // namespace tomograd::tasks::lumbar::internal
