// `lumbar evaluate`'s files: RUN/eval/ (metrics.json, CSV tables, report.md, report.html) for
// each run and the comparison of several runs.
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
#include "tomograd/eval/svg_plot.hpp"
#include "tomograd/tasks/lumbar/labels.hpp"

namespace tomograd::tasks::lumbar::internal {
namespace fs = std::filesystem;
using eval::MetricValue;
using json = nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Writing.

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

/// A table rendered both as Markdown and as HTML; strong rows are bold, the first
/// text_columns columns are left-aligned and the others (numbers) right-aligned.
struct TextTable {
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<bool> strong;
  std::size_t text_columns = 1;

  void add(std::vector<std::string> row, bool is_strong = false) {
    rows.push_back(std::move(row));
    strong.push_back(is_strong);
  }
  std::string md() const {
    std::ostringstream s;
    s << "|";
    for (const auto& h : header) s << " " << h << " |";
    s << "\n|";
    for (std::size_t i = 0; i < header.size(); ++i) s << (i < text_columns ? "---|" : "---:|");
    s << "\n";
    for (std::size_t r = 0; r < rows.size(); ++r) {
      s << "|";
      for (const auto& c : rows[r]) s << " " << (strong[r] && !c.empty() ? "**" + c + "**" : c) << " |";
      s << "\n";
    }
    return s.str();
  }
  std::string html() const {
    std::ostringstream s;
    s << "<table><tr>";
    for (std::size_t i = 0; i < header.size(); ++i) {
      s << (i < text_columns ? "<th class=\"t\">" : "<th>") << eval::xml_escape(header[i]) << "</th>";
    }
    s << "</tr>\n";
    for (std::size_t r = 0; r < rows.size(); ++r) {
      s << (strong[r] ? "<tr class=\"strong\">" : "<tr>");
      for (std::size_t i = 0; i < rows[r].size(); ++i) {
        s << (i < text_columns ? "<td class=\"t\">" : "<td>") << eval::xml_escape(rows[r][i]) << "</td>";
      }
      s << "</tr>\n";
    }
    s << "</table>\n";
    return s.str();
  }
};

const char* kHtmlHead =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%TITLE%</title><style>"
    "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}.t{text-align:left}th{background:#f3f3f3}"
    "tr.strong td{font-weight:bold;background:#eef6ee}.headline{font-size:1.4em}.note{color:#666}"
    ".cm{display:inline-block;margin:0 1em 1em 0;vertical-align:top}</style></head><body>\n";

std::string html_head(const std::string& title) {
  std::string h = kHtmlHead;
  h.replace(h.find("%TITLE%"), 7, eval::xml_escape(title));
  return h;
}

TextTable score_text_table(const RunEval& ev) {
  TextTable t{{"term", "value", "95 % CI"}, {}, {}};
  for (const auto& e : ev.score.entries()) t.add({e.key, fixed(e.value), ci_text(e)}, e.key == "score");
  return t;
}

TextTable group_text_table(const std::vector<std::pair<std::string, const GroupMetrics*>>& groups,
                           const std::string& first_header) {
  TextTable t{{first_header, "n", "weighted log loss", "accuracy", "AUC normal/mild", "AUC moderate", "AUC severe",
               "macro AUC"},
              {},
              {}};
  for (const auto& [name, g] : groups) {
    t.add({name, std::to_string(g->n), fixed(g->weighted_log_loss), fixed(g->accuracy), fixed(g->auc[0]),
           fixed(g->auc[1]), fixed(g->auc[2]), fixed(g->auc_macro)},
          name.find("(all levels)") != std::string::npos);
  }
  return t;
}

TextTable confusion_text_table(const std::vector<std::vector<int64_t>>& cm) {
  TextTable t{{"true \\ predicted", grade_names()[0], grade_names()[1], grade_names()[2]}, {}, {}};
  for (int i = 0; i < 3; ++i) {
    t.add({grade_names()[i], std::to_string(cm[i][0]), std::to_string(cm[i][1]), std::to_string(cm[i][2])});
  }
  return t;
}

TextTable report_text_table(const RunEval& ev) {
  TextTable t{{"condition", "class", "precision", "recall", "F1", "AUC", "support"}, {}, {}, 2};
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

/// What report.md and report.html share: the sentences and the tables.
struct RunReport {
  std::string about, ci_about, note;
  TextTable score, cells, levels, report;
};

RunReport run_report(const RunEval& ev, int bootstrap) {
  RunReport rr;
  std::ostringstream about;
  about << ev.folds.size() << " fold" << (ev.folds.size() == 1 ? "" : "s") << " (" << joined(ev.folds) << "), "
        << ev.studies << " studies, " << ev.rows.size() << " labelled rows";
  if (ev.unlabelled) about << " (" << ev.unlabelled << " rows without a label left out)";
  rr.about = about.str();
  rr.ci_about = "no bootstrap";
  if (bootstrap > 0 && !ev.rows.empty()) {
    rr.ci_about = "95 % percentile bootstrap intervals over " + std::to_string(bootstrap) + " study resamples (seed " +
                  std::to_string(ev.bootstrap.seed) + ")";
  }
  std::vector<std::pair<std::string, const GroupMetrics*>> cells, levels;
  for (int c = 0; c < 5; ++c) {
    for (int l = 0; l < 5; ++l) cells.emplace_back(condition_keys()[c] + " " + level_keys()[l], &ev.by_cell[c][l]);
    cells.emplace_back(condition_keys()[c] + " (all levels)", &ev.by_condition[c]);
  }
  for (int l = 0; l < 5; ++l) levels.emplace_back(level_keys()[l], &ev.by_level[l]);
  rr.score = score_text_table(ev);
  rr.cells = group_text_table(cells, "condition, level");
  rr.levels = group_text_table(levels, "level (all conditions)");
  rr.report = report_text_table(ev);
  rr.note = "n/a: undefined (e.g. a grade absent from the rows); metrics.json gives the reason. Weighted log loss uses "
            "the competition's weights 1, 2, 4 for normal/mild, moderate, severe.";
  return rr;
}

std::string run_markdown(const RunEval& ev, const RunReport& rr) {
  const auto& headline = ev.score.at("score");
  std::ostringstream md;
  md << "# Lumbar evaluation: " << ev.name << "\n\n"
     << "Run `" << ev.dir.string() << "`, input " << ev.input_kind << ", model " << ev.arch << ". Out-of-fold "
     << "predictions of " << rr.about << ".\n\n"
     << "- Split: out-of-fold (" << ev.studies << " studies, one per patient)\n- Threshold: none (log loss on "
     << "probabilities; arg-max grade for the confusion matrices)\n- Intervals: " << rr.ci_about << "\n\n"
     << "## Competition score (lower is better)\n\n**score " << with_ci(headline) << "**"
     << ", " << rr.ci_about << ", macro AUC " << fixed(ev.auc_macro) << ". Prior-only baseline (the training folds' "
     << "grade frequencies per condition and level, no image): " << fixed(ev.prior_score) << ".\n\n"
     << rr.score.md() << "\n## Per condition and level\n\n" << rr.cells.md() << "\n" << rr.levels.md() << "\n"
     << rr.note << "\n\n## Confusion matrices (rows true grade, columns arg-max predicted grade)\n\n";
  for (int c = 0; c < 5; ++c) md << "### " << condition_keys()[c] << "\n\n" << confusion_text_table(ev.confusion[c]).md() << "\n";
  md << "## Classification report\n\n" << rr.report.md();
  return md.str();
}

std::string run_html(const RunEval& ev, const RunReport& rr) {
  const auto& headline = ev.score.at("score");
  std::ostringstream html;
  html << html_head("Lumbar evaluation: " + ev.name) << "<h1>Lumbar evaluation: " << eval::xml_escape(ev.name)
       << "</h1>\n<p>Run <code>" << eval::xml_escape(ev.dir.string()) << "</code>, input "
       << eval::xml_escape(ev.input_kind) << ", model " << eval::xml_escape(ev.arch) << ". Out-of-fold predictions of "
       << eval::xml_escape(rr.about) << ".</p>\n<h2>Competition score (lower is better)</h2>\n"
       << "<p class=\"headline\">score <b>" << eval::xml_escape(with_ci(headline)) << "</b></p>\n<p class=\"note\">"
       << "Split: out-of-fold, " << ev.studies << " studies (one per patient); threshold: none (log loss on "
       << "probabilities); intervals: " << eval::xml_escape(rr.ci_about) << "; macro AUC " << fixed(ev.auc_macro)
       << "; prior-only baseline (training folds' grade frequencies, no image) " << fixed(ev.prior_score) << ".</p>\n"
       << rr.score.html() << "<h2>Per condition and level</h2>\n" << rr.cells.html() << rr.levels.html()
       << "<p class=\"note\">" << eval::xml_escape(rr.note) << "</p>\n"
       << "<h2>Confusion matrices</h2>\n<p class=\"note\">Rows: true grade; columns: arg-max predicted grade.</p>\n";
  const std::vector<std::string> grades(grade_names().begin(), grade_names().end());
  for (int c = 0; c < 5; ++c) {
    html << "<div class=\"cm\">";
    if (ev.by_condition[c].n > 0) html << eval::confusion_matrix_svg(ev.confusion[c], grades, condition_keys()[c], 360);
    else html << "<h3>" << condition_keys()[c] << "</h3><p class=\"note\">no labelled rows</p>";
    html << confusion_text_table(ev.confusion[c]).html() << "</div>\n";
  }
  html << "<h2>Classification report</h2>\n" << rr.report.html() << "</body></html>\n";
  return html.str();
}

}  // namespace

void write_run(const RunEval& ev, int bootstrap, bool force) {
  ensure_directory(ev.eval_dir);
  const json j = run_metrics_json(ev, bootstrap);
  const RunReport rr = run_report(ev, bootstrap);
  write_text(ev.eval_dir / "metrics.json", j.dump(2) + "\n", force);
  write_run_csvs(ev, force);
  write_text(ev.eval_dir / "report.md", run_markdown(ev, rr), force);
  write_text(ev.eval_dir / "report.html", run_html(ev, rr), force);
  logger()->info("lumbar evaluate {}: score {} ({} studies, folds {}) -> {}", ev.name, with_ci(ev.score.at("score")),
                 ev.studies, joined(ev.folds), ev.eval_dir.string());
}

void write_comparison(std::vector<const RunEval*> runs, const fs::path& out, int bootstrap, uint64_t seed, bool force) {
  // Lower is better; runs without a score go last, in the order given.
  auto key = [](const RunEval* r) {
    const auto& s = r->score.value("score");
    return s ? s.value() : std::numeric_limits<double>::infinity();
  };
  std::stable_sort(runs.begin(), runs.end(), [&](const RunEval* a, const RunEval* b) { return key(a) < key(b); });
  const bool has_best = runs.front()->score.value("score").defined();

  TextTable t{{"rank", "run", "input", "arch", "folds", "studies", "score [95 % CI]", "spinal", "foraminal",
               "subarticular", "any severe spinal", "macro AUC"},
              {},
              {},
              4};
  CsvTable csv({"rank", "run", "input_kind", "arch", "folds", "studies", "labelled_rows", "score", "score_ci_low",
                "score_ci_high", "spinal", "foraminal", "subarticular", "any_severe_spinal", "auc_macro", "best", "path"},
               {});
  json j;
  j["bootstrap"] = {{"resamples", bootstrap}, {"seed", seed}, {"confidence", kConfidence}, {"unit", "study"}};
  j["sorted_by"] = "score ascending (lower is better)";
  j["split"] = "out-of-fold";
  j["threshold_source"] = "none: log loss on the probabilities";
  j["interval_method"] = bootstrap > 0 ? "95% percentile bootstrap over studies, " + std::to_string(bootstrap) +
                                             " resamples, seed " + std::to_string(seed)
                                       : std::string("none (no bootstrap resamples were asked for)");
  j["best"] = has_best ? json(runs.front()->name) : json(nullptr);
  j["runs"] = json::array();
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const RunEval& r = *runs[i];
    const bool best = has_best && i == 0;
    const auto& s = r.score.at("score");
    const std::string name = r.name + (best ? " (best)" : "");
    t.add({std::to_string(i + 1), name, r.input_kind, r.arch, std::to_string(r.folds.size()), std::to_string(r.studies),
           with_ci(s), fixed(r.score.value("spinal")), fixed(r.score.value("foraminal")),
           fixed(r.score.value("subarticular")), fixed(r.score.value("any_severe_spinal")), fixed(r.auc_macro)},
          best);
    const bool ci = s.ci && s.ci->low && s.ci->high;
    csv.add_row({std::to_string(i + 1), r.name, r.input_kind, r.arch, std::to_string(r.folds.size()),
                 std::to_string(r.studies), std::to_string(r.rows.size()), detail::num(s.value.value_or(NAN)),
                 ci ? detail::num(s.ci->low.value()) : "", ci ? detail::num(s.ci->high.value()) : "",
                 detail::num(r.score.value("spinal").value_or(NAN)), detail::num(r.score.value("foraminal").value_or(NAN)),
                 detail::num(r.score.value("subarticular").value_or(NAN)),
                 detail::num(r.score.value("any_severe_spinal").value_or(NAN)), detail::num(r.auc_macro.value_or(NAN)),
                 best ? "1" : "0", r.dir.string()});
    json jr;
    jr["rank"] = i + 1;
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
    j["runs"].push_back(jr);
  }
  const std::string about =
      std::to_string(runs.size()) + " runs, out-of-fold predictions, sorted by the competition score (lower is better)" +
      (bootstrap > 0 ? "; 95 % percentile bootstrap intervals over " + std::to_string(bootstrap) +
                           " study resamples (seed " + std::to_string(seed) + ")"
                     : "") +
      ". Macro AUC: mean over the five conditions of the one-vs-rest AUCs' mean.";
  const std::string title = "Lumbar runs compared";
  std::ostringstream html;
  html << html_head(title) << "<h1>" << title << "</h1>\n<p>" << eval::xml_escape(about) << "</p>\n" << t.html()
       << "<p class=\"note\">Each run's full report is RUN/eval/report.html.</p></body></html>\n";

  ensure_directory(out);
  write_text(out / "comparison.md", "# " + title + "\n\n" + about + "\n\n" + t.md(), force);
  write_text(out / "comparison.json", j.dump(2) + "\n", force);
  detail::write_csv(out / "comparison.csv", csv, force);
  write_text(out / "comparison.html", html.str(), force);
  logger()->info("lumbar evaluate: {} runs compared, best {} -> {}", runs.size(),
                 has_best ? runs.front()->name : "(none scored)", (out / "comparison.md").string());
}


}  // namespace tomograd::tasks::lumbar::internal
