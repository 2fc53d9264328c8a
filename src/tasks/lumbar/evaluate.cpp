// `lumbar evaluate`: out-of-fold predictions of lumbar runs scored and compared.
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "../common.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/eval/bootstrap.hpp"
#include "tomograd/eval/multiclass.hpp"
#include "tomograd/eval/rsna_lumbar.hpp"
#include "tomograd/eval/svg_plot.hpp"
#include "tomograd/tasks/lumbar.hpp"
#include "internal.hpp"
#include "tomograd/tasks/lumbar_eval.hpp"

namespace tomograd::tasks::lumbar {
namespace fs = std::filesystem;
using eval::MetricValue;
using json = nlohmann::json;

namespace {

const std::array<std::string, 3> kGradeKeys{"normal_mild", "moderate", "severe"};
const std::array<std::string, 7> kOofColumns{"study_id", "condition", "level", "label",
                                             "normal_mild", "moderate", "severe"};
// The competition's sample weights per grade (normal/mild, moderate, severe).
const std::array<double, 3> kGradeWeights{1.0, 2.0, 4.0};
const std::array<std::string, 5> kScoreKeys{"score", "spinal", "foraminal", "subarticular", "any_severe_spinal"};
const std::array<std::string, 6> kRunFiles{"metrics.json", "auc.csv", "confusion.csv", "classification_report.csv",
                                           "report.md", "report.html"};
const std::array<std::string, 4> kComparisonFiles{"comparison.md", "comparison.json", "comparison.csv",
                                                  "comparison.html"};
constexpr double kConfidence = 0.95;


/// Shortest decimal that reads back to the same double.
std::string exact(double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// ---------------------------------------------------------------------------------------------
// Metrics of a group of labelled rows.

struct GroupMetrics {
  std::size_t n = 0;
  MetricValue weighted_log_loss, accuracy, auc_macro;
  std::array<MetricValue, 3> auc;
};

GroupMetrics group_metrics(const std::vector<const OofRow*>& rows) {
  GroupMetrics g;
  g.n = rows.size();
  if (rows.empty()) {
    const auto none = MetricValue::undefined("no labelled rows");
    g.weighted_log_loss = g.accuracy = g.auc_macro = none;
    g.auc = {none, none, none};
    return g;
  }
  std::vector<int> y;
  std::vector<std::vector<double>> p;
  std::vector<double> w;
  for (const OofRow* r : rows) {
    y.push_back(r->label);
    p.emplace_back(r->probabilities.begin(), r->probabilities.end());
    w.push_back(kGradeWeights[r->label]);
  }
  g.weighted_log_loss = eval::log_loss(y, p, w);
  const auto pred = eval::argmax_rows(p);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < y.size(); ++i) correct += pred[i] == y[i];
  g.accuracy = MetricValue::of(static_cast<double>(correct) / static_cast<double>(y.size()));
  double sum = 0;
  std::string missing;
  for (int k = 0; k < 3; ++k) {
    g.auc[k] = eval::one_vs_rest_auc(y, p, k);
    if (g.auc[k]) sum += g.auc[k].value();
    else if (missing.empty()) missing = kGradeKeys[k] + ": " + g.auc[k].reason();
  }
  g.auc_macro = missing.empty() ? MetricValue::of(sum / 3.0)
                                : MetricValue::undefined("needs all three one-vs-rest AUCs (" + missing + ")");
  return g;
}

// ---------------------------------------------------------------------------------------------
// One run.

struct RunEval {
  fs::path dir, eval_dir;
  std::string name, input_kind = "?", arch = "?";
  std::vector<int> folds;
  std::vector<fs::path> files;
  std::vector<OofRow> rows;  // labelled rows only
  std::size_t unlabelled = 0, studies = 0;
  eval::MetricTable score;  // kScoreKeys
  MetricValue prior_score;  // the same rows scored with the training folds' class frequencies
  eval::BootstrapSummary bootstrap;
  std::array<GroupMetrics, 5> by_condition;
  std::array<std::array<GroupMetrics, 5>, 5> by_cell;  // [condition][level]
  std::array<GroupMetrics, 5> by_level;
  std::array<std::vector<std::vector<int64_t>>, 5> confusion;
  std::array<std::vector<eval::ClassReport>, 5> report;
  MetricValue auc_macro;
};

std::string run_name(const fs::path& run) {
  fs::path p = run.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  const std::string name = p.filename().string();
  return name.empty() || name == "." ? fs::absolute(run).lexically_normal().parent_path().filename().string() : name;
}

std::string yaml_string(const YAML::Node& root, const char* section, const char* key) {
  const YAML::Node s = root[section];
  if (!s || !s.IsMap()) return "?";
  const YAML::Node v = s[key];
  if (!v || !v.IsScalar() || v.Scalar().empty()) return "?";
  return v.Scalar();
}

/// (fold number, oof.csv) for every RUN/fold_<K>/oof.csv, by fold number.
std::vector<std::pair<int, fs::path>> find_oof_files(const fs::path& run) {
  if (!fs::is_directory(run)) throw IoError(run.string() + ": not a folder (expected a lumbar training run)");
  std::vector<std::pair<int, fs::path>> out;
  for (const auto& e : fs::directory_iterator(run)) {
    const std::string n = e.path().filename().string();
    if (!e.is_directory() || n.rfind("fold_", 0) != 0 || n.size() == 5) continue;
    const std::string k = n.substr(5);
    if (!std::all_of(k.begin(), k.end(), [](char c) { return c >= '0' && c <= '9'; }) || k.size() > 6) continue;
    const fs::path f = e.path() / "oof.csv";
    if (fs::is_regular_file(f)) out.emplace_back(std::stoi(k), f);
    else logger()->warn("{}: no oof.csv (fold not finished?); left out", e.path().string());
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) throw IoError(run.string() + ": no fold_*/oof.csv; train at least one fold with lumbar train");
  return out;
}

/// The competition metric's five terms of @p rows as a table.
eval::MetricTable score_table(const std::vector<eval::LumbarRow>& rows) {
  eval::MetricTable t;
  if (rows.empty()) {
    for (const auto& k : kScoreKeys) t.set(k, k, MetricValue::undefined("no labelled rows"));
    return t;
  }
  const eval::LumbarScore s = eval::rsna_lumbar_score(rows);
  t.set("score", "score", s.score);
  t.set("spinal", "spinal canal stenosis", s.spinal);
  t.set("foraminal", "neural foraminal narrowing", s.foraminal);
  t.set("subarticular", "subarticular stenosis", s.subarticular);
  t.set("any_severe_spinal", "any severe spinal", s.any_severe_spinal);
  return t;
}

eval::LumbarRow lumbar_row(const OofRow& r, std::string study_id) {
  static const std::array<eval::LumbarCondition, 5> group = [] {
    std::array<eval::LumbarCondition, 5> g{};
    for (int c = 0; c < 5; ++c) g[c] = eval::lumbar_condition_of(condition_keys()[c]);
    return g;
  }();
  eval::LumbarRow l;
  l.study_id = std::move(study_id);
  l.condition = group[r.condition];
  l.severity = r.label;
  l.probabilities = r.probabilities;
  return l;
}

/// The competition score of a model that ignores the images: each held-out row of fold k gets
/// the grade frequencies of its (condition, level) cell among the labelled rows of the other
/// folds' out-of-fold files (that is, fold k's training studies when every fold was trained), with
/// one pseudo-count per grade so that no grade gets probability 0 (a zero would make the prior's
/// log loss explode and the comparison meaningless). Undefined with fewer than two folds.
MetricValue prior_only_score(const std::vector<OofRow>& rows, std::size_t folds) {
  if (folds < 2) {
    return MetricValue::undefined("needs the out-of-fold files of at least two folds (the other folds' labels are "
                                  "the training labels of each fold)");
  }
  std::map<int, std::array<std::array<std::array<double, 3>, 5>, 5>> counts;  // fold -> [condition][level][grade]
  std::array<std::array<std::array<double, 3>, 5>, 5> total{};
  for (const auto& r : rows) {
    auto& c = counts[r.fold];
    c[r.condition][r.level][r.label] += 1;
    total[r.condition][r.level][r.label] += 1;
  }
  std::vector<eval::LumbarRow> prior;
  for (const auto& r : rows) {
    OofRow p = r;
    const auto& own = counts[r.fold][r.condition][r.level];
    const auto& all = total[r.condition][r.level];
    double sum = 0;
    for (int g = 0; g < 3; ++g) sum += all[g] - own[g] + 1.0;
    for (int g = 0; g < 3; ++g) p.probabilities[static_cast<std::size_t>(g)] = (all[g] - own[g] + 1.0) / sum;
    prior.push_back(lumbar_row(p, p.study_id));
  }
  return eval::rsna_lumbar_score(prior).score;
}

RunEval evaluate_one(const fs::path& run, int bootstrap, uint64_t seed) {
  RunEval ev;
  ev.dir = run;
  ev.eval_dir = run / "eval";
  ev.name = run_name(run);
  if (fs::is_regular_file(run / "config.yaml")) {
    try {
      const YAML::Node c = YAML::LoadFile((run / "config.yaml").string());
      ev.input_kind = yaml_string(c, "input", "kind");
      ev.arch = yaml_string(c, "model", "arch");
    } catch (const YAML::Exception& e) {
      logger()->warn("{}: unreadable ({}); input kind and arch shown as ?", (run / "config.yaml").string(), e.what());
    }
  }

  // Out-of-fold means each cell of a study is predicted by exactly one fold.
  std::map<std::tuple<std::string, int, int>, std::pair<std::size_t, std::size_t>> seen;  // -> (file, line)
  std::vector<std::string> problems;
  std::vector<OofRow> all;
  for (const auto& [fold, file] : find_oof_files(run)) {
    ev.folds.push_back(fold);
    ev.files.push_back(file);
    for (auto& r : read_oof(file, fold)) {
      const auto key = std::make_tuple(r.study_id, r.condition, r.level);
      const auto [it, fresh] = seen.emplace(key, std::make_pair(ev.files.size() - 1, r.line));
      if (!fresh) {
        problems.push_back(file.string() + " line " + std::to_string(r.line) + ": study " + r.study_id + " " +
                           condition_keys()[r.condition] + " " + level_keys()[r.level] + " is also in " +
                           ev.files[it->second.first].string() + " line " + std::to_string(it->second.second) +
                           " (a study belongs to one fold's held-out set)");
        continue;
      }
      all.push_back(std::move(r));
    }
  }
  internal::throw_problems(run.string(), problems);
  std::set<std::string> studies;
  for (auto& r : all) {
    if (r.label < 0) {
      ++ev.unlabelled;
      continue;
    }
    studies.insert(r.study_id);
    ev.rows.push_back(std::move(r));
  }
  ev.studies = studies.size();

  std::vector<eval::LumbarRow> lrows;
  std::vector<std::string> groups;
  for (const auto& r : ev.rows) {
    lrows.push_back(lumbar_row(r, r.study_id));
    groups.push_back(r.study_id);
  }
  ev.score = score_table(lrows);
  ev.prior_score = prior_only_score(ev.rows, ev.folds.size());
  ev.bootstrap.seed = seed;
  ev.bootstrap.confidence = kConfidence;
  if (bootstrap > 0 && !ev.rows.empty()) {
    eval::BootstrapOptions o;
    o.resamples = bootstrap;
    o.seed = seed;
    o.confidence = kConfidence;
    const auto units = eval::units_from_groups(groups);
    ev.bootstrap = eval::add_bootstrap_intervals(
        ev.score, units,
        [&](const std::vector<std::size_t>& idx) {
          // A study drawn twice must count as two studies in the any-severe term, which groups by
          // study id: the k-th draw of a row belongs to the k-th draw of its study.
          std::vector<int> drawn(ev.rows.size(), 0);
          std::vector<eval::LumbarRow> sample;
          sample.reserve(idx.size());
          for (std::size_t i : idx) {
            const int k = drawn[i]++;
            sample.push_back(lumbar_row(ev.rows[i], k == 0 ? ev.rows[i].study_id
                                                          : ev.rows[i].study_id + "#" + std::to_string(k)));
          }
          return score_table(sample);
        },
        o);
  }

  std::array<std::vector<const OofRow*>, 5> by_condition, by_level;
  std::array<std::array<std::vector<const OofRow*>, 5>, 5> by_cell;
  for (const auto& r : ev.rows) {
    by_condition[r.condition].push_back(&r);
    by_level[r.level].push_back(&r);
    by_cell[r.condition][r.level].push_back(&r);
  }
  double macro_sum = 0;
  std::string macro_missing;
  for (int c = 0; c < 5; ++c) {
    ev.by_condition[c] = group_metrics(by_condition[c]);
    ev.by_level[c] = group_metrics(by_level[c]);
    for (int l = 0; l < 5; ++l) ev.by_cell[c][l] = group_metrics(by_cell[c][l]);
    const auto& m = ev.by_condition[c].auc_macro;
    if (m) macro_sum += m.value();
    else if (macro_missing.empty()) macro_missing = condition_keys()[c] + ": " + m.reason();
    std::vector<int> y, pred;
    std::vector<std::vector<double>> p;
    for (const OofRow* r : by_condition[c]) {
      y.push_back(r->label);
      p.emplace_back(r->probabilities.begin(), r->probabilities.end());
    }
    if (!p.empty()) pred = eval::argmax_rows(p);
    ev.confusion[c] = eval::confusion_matrix(y, pred, 3);
    if (!p.empty()) {
      ev.report[c] = eval::classification_report(y, p, {kGradeKeys[0], kGradeKeys[1], kGradeKeys[2]});
    } else {
      for (const auto& k : kGradeKeys) {
        eval::ClassReport cr;
        cr.name = k;
        cr.precision = cr.recall = cr.f1 = cr.auc = MetricValue::undefined("no labelled rows");
        ev.report[c].push_back(cr);
      }
    }
  }
  ev.auc_macro = macro_missing.empty()
                     ? MetricValue::of(macro_sum / 5.0)
                     : MetricValue::undefined("needs every condition's macro AUC (" + macro_missing + ")");
  return ev;
}

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

void write_run(const RunEval& ev, int bootstrap, bool force) {
  ensure_directory(ev.eval_dir);

  // metrics.json
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

  // CSV files.
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

  // report.md and report.html share their tables.
  const auto& headline = ev.score.at("score");
  std::ostringstream about;
  about << ev.folds.size() << " fold" << (ev.folds.size() == 1 ? "" : "s") << " (" << joined(ev.folds) << "), "
        << ev.studies << " studies, " << ev.rows.size() << " labelled rows";
  if (ev.unlabelled) about << " (" << ev.unlabelled << " rows without a label left out)";
  std::string ci_about = "no bootstrap";
  if (j["bootstrap"]["resamples"].get<int>() > 0) {
    ci_about = "95 % percentile bootstrap intervals over " + std::to_string(bootstrap) + " study resamples (seed " +
               std::to_string(ev.bootstrap.seed) + ")";
  }
  std::vector<std::pair<std::string, const GroupMetrics*>> cells, levels;
  for (int c = 0; c < 5; ++c) {
    for (int l = 0; l < 5; ++l) cells.emplace_back(condition_keys()[c] + " " + level_keys()[l], &ev.by_cell[c][l]);
    cells.emplace_back(condition_keys()[c] + " (all levels)", &ev.by_condition[c]);
  }
  for (int l = 0; l < 5; ++l) levels.emplace_back(level_keys()[l], &ev.by_level[l]);
  const TextTable score_t = score_text_table(ev), cells_t = group_text_table(cells, "condition, level"),
                  levels_t = group_text_table(levels, "level (all conditions)"), report_t = report_text_table(ev);
  const std::string note =
      "n/a: undefined (e.g. a grade absent from the rows); metrics.json gives the reason. Weighted log loss uses "
      "the competition's weights 1, 2, 4 for normal/mild, moderate, severe.";

  std::ostringstream md;
  md << "# Lumbar evaluation: " << ev.name << "\n\n"
     << "Run `" << ev.dir.string() << "`, input " << ev.input_kind << ", model " << ev.arch << ". Out-of-fold "
     << "predictions of " << about.str() << ".\n\n"
     << "- Split: out-of-fold (" << ev.studies << " studies, one per patient)\n- Threshold: none (log loss on "
     << "probabilities; arg-max grade for the confusion matrices)\n- Intervals: " << ci_about << "\n\n"
     << "## Competition score (lower is better)\n\n**score " << with_ci(headline) << "**"
     << ", " << ci_about << ", macro AUC " << fixed(ev.auc_macro) << ". Prior-only baseline (the training folds' "
     << "grade frequencies per condition and level, no image): " << fixed(ev.prior_score) << ".\n\n"
     << score_t.md() << "\n## Per condition and level\n\n" << cells_t.md() << "\n" << levels_t.md() << "\n" << note
     << "\n\n## Confusion matrices (rows true grade, columns arg-max predicted grade)\n\n";
  for (int c = 0; c < 5; ++c) md << "### " << condition_keys()[c] << "\n\n" << confusion_text_table(ev.confusion[c]).md() << "\n";
  md << "## Classification report\n\n" << report_t.md();

  std::ostringstream html;
  html << html_head("Lumbar evaluation: " + ev.name) << "<h1>Lumbar evaluation: " << eval::xml_escape(ev.name)
       << "</h1>\n<p>Run <code>" << eval::xml_escape(ev.dir.string()) << "</code>, input "
       << eval::xml_escape(ev.input_kind) << ", model " << eval::xml_escape(ev.arch) << ". Out-of-fold predictions of "
       << eval::xml_escape(about.str()) << ".</p>\n<h2>Competition score (lower is better)</h2>\n"
       << "<p class=\"headline\">score <b>" << eval::xml_escape(with_ci(headline)) << "</b></p>\n<p class=\"note\">"
       << "Split: out-of-fold, " << ev.studies << " studies (one per patient); threshold: none (log loss on "
       << "probabilities); intervals: " << eval::xml_escape(ci_about) << "; macro AUC " << fixed(ev.auc_macro)
       << "; prior-only baseline (training folds' grade frequencies, no image) " << fixed(ev.prior_score) << ".</p>\n"
       << score_t.html() << "<h2>Per condition and level</h2>\n" << cells_t.html() << levels_t.html()
       << "<p class=\"note\">" << eval::xml_escape(note) << "</p>\n"
       << "<h2>Confusion matrices</h2>\n<p class=\"note\">Rows: true grade; columns: arg-max predicted grade.</p>\n";
  const std::vector<std::string> grades(grade_names().begin(), grade_names().end());
  for (int c = 0; c < 5; ++c) {
    html << "<div class=\"cm\">";
    if (ev.by_condition[c].n > 0) html << eval::confusion_matrix_svg(ev.confusion[c], grades, condition_keys()[c], 360);
    else html << "<h3>" << condition_keys()[c] << "</h3><p class=\"note\">no labelled rows</p>";
    html << confusion_text_table(ev.confusion[c]).html() << "</div>\n";
  }
  html << "<h2>Classification report</h2>\n" << report_t.html() << "</body></html>\n";

  write_text(ev.eval_dir / "metrics.json", j.dump(2) + "\n", force);
  detail::write_csv(ev.eval_dir / "auc.csv", auc, force);
  detail::write_csv(ev.eval_dir / "confusion.csv", confusion, force);
  detail::write_csv(ev.eval_dir / "classification_report.csv", report, force);
  write_text(ev.eval_dir / "report.md", md.str(), force);
  write_text(ev.eval_dir / "report.html", html.str(), force);
  logger()->info("lumbar evaluate {}: score {} ({} studies, folds {}) -> {}", ev.name, with_ci(headline), ev.studies,
                 joined(ev.folds), ev.eval_dir.string());
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

}  // namespace

std::vector<OofRow> read_oof(const fs::path& csv, int fold) {
  const CsvTable t = CsvTable::read(csv);
  const std::string file = csv.string();
  std::vector<std::string> problems;
  for (const auto& c : kOofColumns) {
    if (!t.has_column(c)) problems.push_back("missing column '" + c + "'");
  }
  if (!problems.empty()) {
    problems.push_back("expected columns: study_id,condition,level,label,normal_mild,moderate,severe");
    internal::throw_problems(file, problems);
  }
  std::array<std::size_t, 7> col{};
  for (std::size_t i = 0; i < col.size(); ++i) col[i] = t.column_index(kOofColumns[i]);
  std::vector<OofRow> out;
  out.reserve(t.num_rows());
  std::map<std::tuple<std::string, int, int>, std::size_t> seen;
  for (std::size_t r = 0; r < t.num_rows(); ++r) {
    OofRow o;
    o.fold = fold;
    o.line = t.line_of(r);
    o.study_id = t.at(r, col[0]);
    const std::string where = "line " + std::to_string(o.line) + (o.study_id.empty() ? "" : " (study " + o.study_id + ")") + ": ";
    bool ok = true;
    if (o.study_id.empty()) {
      problems.push_back(where + "empty study_id");
      ok = false;
    }
    const std::string& cond = t.at(r, col[1]);
    const std::string& level = t.at(r, col[2]);
    o.condition = condition_index(cond);
    o.level = level_index(level);
    if (o.condition < 0) {
      problems.push_back(where + "unknown condition '" + cond + "' (expected spinal_canal_stenosis, "
                                 "left_neural_foraminal_narrowing, right_neural_foraminal_narrowing, "
                                 "left_subarticular_stenosis or right_subarticular_stenosis)");
      ok = false;
    }
    if (o.level < 0) {
      problems.push_back(where + "unknown level '" + level + "' (expected l1_l2, l2_l3, l3_l4, l4_l5 or l5_s1)");
      ok = false;
    }
    const std::string& label = t.at(r, col[3]);
    if (label.empty()) o.label = -1;
    else if (label == "0" || label == "1" || label == "2") o.label = label[0] - '0';
    else {
      problems.push_back(where + "label is '" + label + "'; expected 0 (Normal/Mild), 1 (Moderate), 2 (Severe) or empty");
      ok = false;
    }
    for (int k = 0; k < 3; ++k) {
      const std::string& v = t.at(r, col[4 + k]);
      const auto x = parse_number(v);
      if (!x || *x < 0) {
        problems.push_back(where + kGradeKeys[k] + " must be a finite probability >= 0, got '" + v + "'");
        ok = false;
      } else {
        o.probabilities[k] = *x;
      }
    }
    if (!ok) continue;
    const auto [it, fresh] = seen.emplace(std::make_tuple(o.study_id, o.condition, o.level), o.line);
    if (!fresh) {
      problems.push_back(where + condition_keys()[o.condition] + " " + level_keys()[o.level] +
                         " listed twice (first on line " + std::to_string(it->second) + ")");
      continue;
    }
    out.push_back(std::move(o));
  }
  internal::throw_problems(file, problems);
  return out;
}

void write_oof(const fs::path& csv, const std::vector<OofRow>& rows, bool force) {
  CsvTable t(std::vector<std::string>(kOofColumns.begin(), kOofColumns.end()), {});
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const OofRow& r = rows[i];
    if (r.condition < 0 || r.condition > 4 || r.level < 0 || r.level > 4 || r.label < -1 || r.label > 2) {
      throw ValueError(csv.string() + ": row " + std::to_string(i) + " (study " + r.study_id + ") has condition " +
                       std::to_string(r.condition) + ", level " + std::to_string(r.level) + ", label " +
                       std::to_string(r.label) + "; expected 0..4, 0..4 and -1..2");
    }
    t.add_row({r.study_id, condition_keys()[r.condition], level_keys()[r.level],
               r.label < 0 ? "" : std::to_string(r.label), exact(r.probabilities[0]), exact(r.probabilities[1]),
               exact(r.probabilities[2])});
  }
  detail::write_csv(csv, t, force);
}

fs::path evaluate_runs(const std::vector<fs::path>& runs, const fs::path& out, int bootstrap, uint64_t seed,
                       bool force) {
  if (runs.empty()) throw ValueError("lumbar evaluate: no runs given");
  if (bootstrap < 0) throw ValueError("lumbar evaluate: bootstrap must be >= 0 resamples, got " + std::to_string(bootstrap));
  if (runs.size() > 1 && out.empty()) {
    throw ValueError("lumbar evaluate: " + std::to_string(runs.size()) +
                     " runs need an output folder for the comparison files");
  }
  std::set<fs::path> unique;
  for (const auto& r : runs) {
    const fs::path canon = fs::weakly_canonical(fs::absolute(r));
    if (!unique.insert(canon).second) throw ValueError("lumbar evaluate: run " + r.string() + " given twice");
  }
  // Refuse before any work, so that a refused call leaves nothing half-written.
  if (!force) {
    std::vector<std::string> existing;
    for (const auto& r : runs) {
      for (const auto& f : kRunFiles) {
        if (fs::exists(r / "eval" / f)) existing.push_back((r / "eval" / f).string());
      }
    }
    if (runs.size() > 1) {
      for (const auto& f : kComparisonFiles) {
        if (fs::exists(out / f)) existing.push_back((out / f).string());
      }
    }
    if (!existing.empty()) {
      std::string msg = "lumbar evaluate: " + std::to_string(existing.size()) +
                        " output file(s) exist; pass --force to replace them:";
      for (const auto& e : existing) msg += "\n  - " + e;
      throw IoError(msg);
    }
  }
  std::vector<RunEval> evals;
  evals.reserve(runs.size());
  for (const auto& r : runs) evals.push_back(evaluate_one(r, bootstrap, seed));
  for (const auto& ev : evals) write_run(ev, bootstrap, force);
  if (runs.size() == 1) return evals.front().eval_dir;
  std::vector<const RunEval*> ptrs;
  for (const auto& ev : evals) ptrs.push_back(&ev);
  write_comparison(ptrs, out, bootstrap, seed, force);
  return out;
}

}  // namespace tomograd::tasks::lumbar
