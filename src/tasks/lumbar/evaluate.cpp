// `lumbar evaluate`: the out-of-fold predictions of lumbar runs scored with the competition
// metric (study-bootstrap intervals), a prior-only baseline, and the per-condition/level AUC,
// confusion matrices and classification report; the files are written by evaluate_report.cpp.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>
#include <tuple>

#include "../common.hpp"
#include "evaluate_impl.hpp"
#include "internal.hpp"
#include "tomograd/core/config.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/eval/rsna_lumbar.hpp"
#include "tomograd/tasks/lumbar/evaluate.hpp"
#include "tomograd/tasks/lumbar/labels.hpp"
#include "tomograd/train/run_dir.hpp"

namespace tomograd::tasks::lumbar {
namespace fs = std::filesystem;
using eval::MetricValue;

namespace internal {
namespace {

// The competition's sample weights per grade (normal/mild, moderate, severe).
const std::array<double, 3> kGradeWeights{1.0, 2.0, 4.0};
const std::array<std::string, 5> kScoreKeys{"score", "spinal", "foraminal", "subarticular", "any_severe_spinal"};

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

std::string run_name(const fs::path& run) {
  fs::path p = run.lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  const std::string name = p.filename().string();
  return name.empty() || name == "." ? fs::absolute(run).lexically_normal().parent_path().filename().string() : name;
}

/// input.kind and model.arch of the run's resolved config.yaml, read with the typed config
/// reader; "?" where the file, the key or a readable value is missing.
void read_run_config(const fs::path& run, RunEval& ev) {
  const train::RunDir dir(run);
  const fs::path file = dir.config_file();
  if (!fs::is_regular_file(file)) return;
  auto value = [](ConfigReader section, const char* key) {
    std::string v;
    section.get(key, v);
    return v.empty() ? std::string("?") : v;
  };
  try {
    ConfigReader root = dir.config();
    ev.input_kind = value(root.child("input"), "kind");
    ev.arch = value(root.child("model"), "arch");
  } catch (const Error& e) {
    logger()->warn("{}: unreadable ({}); input kind and arch shown as ?", file.string(), e.what());
  }
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

/// Every fold's out-of-fold rows of @p run into @p ev: the labelled ones in ev.rows, the others
/// counted. A (study, condition, level) in two folds is an error naming both files and lines.
void collect_rows(const fs::path& run, RunEval& ev) {
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
}

/// The competition score of @p ev's rows, the prior-only score, and bootstrap intervals.
void add_scores(RunEval& ev, int bootstrap, uint64_t seed) {
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
}

/// Per condition, level and cell metrics, confusion matrices and the classification report.
void add_breakdown(RunEval& ev) {
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
}

}  // namespace

RunEval evaluate_one(const fs::path& run, int bootstrap, uint64_t seed) {
  RunEval ev;
  ev.dir = run;
  ev.eval_dir = run / "eval";
  ev.name = run_name(run);
  read_run_config(run, ev);
  collect_rows(run, ev);
  add_scores(ev, bootstrap, seed);
  add_breakdown(ev);
  return ev;
}

}  // namespace internal

using internal::RunEval;

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
    std::vector<fs::path> outputs;
    for (const auto& r : runs) {
      for (const auto& f : internal::run_output_files(r / "eval")) outputs.push_back(f);
    }
    if (runs.size() > 1) {
      for (const auto& f : internal::comparison_output_files(out)) outputs.push_back(f);
    }
    for (const auto& f : outputs) {
      if (fs::exists(f)) existing.push_back(f.string());
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
  for (const auto& r : runs) evals.push_back(internal::evaluate_one(r, bootstrap, seed));
  for (const auto& ev : evals) internal::write_run(ev, bootstrap, force);
  if (runs.size() == 1) return evals.front().eval_dir;
  std::vector<const RunEval*> ptrs;
  for (const auto& ev : evals) ptrs.push_back(&ev);
  internal::write_comparison(ptrs, out, bootstrap, seed, force);
  return out;
}

}  // namespace tomograd::tasks::lumbar
