#include "tomograd/eval/prediction_file.hpp"

#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"

namespace tomograd::eval {

namespace {

std::string list_some(const std::vector<std::string>& items, std::size_t max_items = 5) {
  std::string s;
  for (std::size_t i = 0; i < items.size() && i < max_items; ++i) s += (i ? ", " : "") + items[i];
  if (items.size() > max_items) s += ", ... (" + std::to_string(items.size() - max_items) + " more)";
  return s;
}

CsvTable read_nonempty(const std::filesystem::path& path) {
  CsvTable t = CsvTable::read(path);
  if (t.num_rows() == 0) throw CsvError(path.string() + ": no data rows (only a header line)");
  return t;
}

// Where a target cell came from, for messages.
struct Cell {
  const CsvTable* table;
  std::size_t row;
};

double parse_target(const std::string& text, const Cell& at, const std::string& column, const PredictionSource& src) {
  auto where = [&] {
    return at.table->source() + ": line " + std::to_string(at.table->line_of(at.row)) + ", column '" + column + "'";
  };
  std::string t = text;
  auto b = t.find_first_not_of(" \t"), e = t.find_last_not_of(" \t");
  t = b == std::string::npos ? "" : t.substr(b, e - b + 1);
  auto v = parse_number(t);
  switch (src.task) {
    case TaskKind::kRegression:
      if (!v) throw CsvError(where() + ": expected a finite number, got '" + text + "'");
      return *v;
    case TaskKind::kBinary:
      if (!v || (*v != 0.0 && *v != 1.0)) throw CsvError(where() + ": expected a binary label 0 or 1, got '" + text + "'");
      return *v;
    case TaskKind::kMulticlass: {
      const std::size_t k = src.y_pred.size();
      if (v && *v == std::floor(*v) && *v >= 0 && *v < static_cast<double>(k)) return *v;
      for (std::size_t c = 0; c < k; ++c) {
        if (t == src.y_pred[c]) return static_cast<double>(c);
      }
      std::string names;
      for (const auto& n : src.y_pred) names += (names.empty() ? "" : ", ") + n;
      throw CsvError(where() + ": expected a class index 0.." + std::to_string(k - 1) + " or a class name (" + names +
                     "), got '" + text + "'");
    }
  }
  throw CsvError(where() + ": unknown task");
}

void check_source(const PredictionSource& src) {
  if (src.y_true.empty()) throw ValueError("no target column given (--y-true)");
  if (src.y_pred.empty()) throw ValueError("no prediction column given (--y-pred)");
  if (src.task == TaskKind::kMulticlass && src.y_pred.size() < 2) {
    throw ValueError("multiclass needs one probability column per class (at least 2 --y-pred columns), got " +
                     std::to_string(src.y_pred.size()));
  }
  if (src.task != TaskKind::kMulticlass && src.y_pred.size() != 1) {
    throw ValueError(to_string(src.task) + " takes exactly one --y-pred column, got " + std::to_string(src.y_pred.size()));
  }
  if (!src.labels.empty() && src.id.empty()) {
    throw ValueError("a labels file needs an id column (--id) present in both files to join them");
  }
  std::unordered_set<std::string> seen_cols;
  for (const auto& c : src.y_pred) {
    if (!seen_cols.insert(c).second) throw ValueError("prediction column '" + c + "' is given twice");
  }
}

/// The prediction columns as one row of values per CSV row.
std::vector<std::vector<double>> prediction_rows(const CsvTable& pred, const PredictionSource& src) {
  std::vector<std::vector<double>> columns;
  for (const auto& c : src.y_pred) columns.push_back(pred.numbers(c));
  std::vector<std::vector<double>> y_pred(pred.num_rows(), std::vector<double>(src.y_pred.size()));
  for (std::size_t r = 0; r < pred.num_rows(); ++r) {
    for (std::size_t c = 0; c < columns.size(); ++c) y_pred[r][c] = columns[c][r];
  }
  return y_pred;
}

/// A column's cells, each required non-empty (@p what names it in the error).
std::vector<std::string> nonempty_strings(const CsvTable& table, const PredictionSource& src, const std::string& column,
                                          const std::string& what) {
  std::vector<std::string> cells = table.strings(column);
  for (std::size_t r = 0; r < cells.size(); ++r) {
    if (cells[r].empty()) {
      throw CsvError(src.input.string() + ": line " + std::to_string(table.line_of(r)) + ", column '" + column +
                     "': empty " + what);
    }
  }
  return cells;
}

/// The labels file's row of each id; throws for an id that appears twice.
std::unordered_map<std::string, std::size_t> label_rows(const CsvTable& lab, const std::vector<std::string>& lab_ids,
                                                        const PredictionSource& src) {
  std::unordered_map<std::string, std::size_t> row_of;
  for (std::size_t r = 0; r < lab.num_rows(); ++r) {
    auto [it, fresh] = row_of.emplace(lab_ids[r], r);
    if (!fresh) {
      throw CsvError(src.labels.string() + ": line " + std::to_string(lab.line_of(r)) + ": id '" + lab_ids[r] +
                     "' appears again (first on line " + std::to_string(lab.line_of(it->second)) +
                     "); a labels file needs one row per id");
    }
  }
  return row_of;
}

/// Throws when a predicted id has no label or a labelled id no prediction.
void check_ids_match(const std::vector<std::string>& ids, const std::vector<std::string>& lab_ids,
                     const std::unordered_map<std::string, std::size_t>& row_of, const PredictionSource& src) {
  std::vector<std::string> no_label, no_prediction;
  std::unordered_set<std::string> predicted, reported;
  for (const auto& id : ids) {
    predicted.insert(id);
    if (!row_of.count(id) && reported.insert(id).second) no_label.push_back(id);
  }
  for (const auto& id : lab_ids) {
    if (!predicted.count(id)) no_prediction.push_back(id);
  }
  if (no_label.empty() && no_prediction.empty()) return;
  std::string msg = "ids of " + src.input.string() + " and " + src.labels.string() + " (column '" + src.id + "') do not match:";
  if (!no_label.empty()) msg += " " + std::to_string(no_label.size()) + " predicted id(s) have no label (" + list_some(no_label) + ")";
  if (!no_label.empty() && !no_prediction.empty()) msg += ";";
  if (!no_prediction.empty()) {
    msg += " " + std::to_string(no_prediction.size()) + " labelled id(s) have no prediction (" + list_some(no_prediction) + ")";
  }
  throw CsvError(msg);
}

/// The target of every prediction row: from the predictions file, or joined from the labels file by id.
std::vector<double> read_targets(const CsvTable& pred, const std::vector<std::string>& ids, const PredictionSource& src) {
  const std::size_t n = pred.num_rows();
  std::vector<double> y_true(n);
  if (src.labels.empty()) {
    auto raw = pred.strings(src.y_true);
    for (std::size_t r = 0; r < n; ++r) y_true[r] = parse_target(raw[r], Cell{&pred, r}, src.y_true, src);
    return y_true;
  }
  CsvTable lab = read_nonempty(src.labels);
  auto lab_ids = lab.strings(src.id);
  auto raw = lab.strings(src.y_true);
  const auto row_of = label_rows(lab, lab_ids, src);
  check_ids_match(ids, lab_ids, row_of, src);
  for (std::size_t r = 0; r < n; ++r) {
    std::size_t lr = row_of.at(ids[r]);
    y_true[r] = parse_target(raw[lr], Cell{&lab, lr}, src.y_true, src);
  }
  return y_true;
}

}  // namespace

EvaluationData load_predictions(const PredictionSource& src) {
  check_source(src);
  CsvTable pred = read_nonempty(src.input);
  const std::size_t n = pred.num_rows();
  std::vector<std::vector<double>> y_pred = prediction_rows(pred, src);
  std::vector<std::string> ids;
  if (!src.id.empty()) ids = nonempty_strings(pred, src, src.id, "id");
  std::vector<double> y_true = read_targets(pred, ids, src);

  EvaluationData d;
  d.task = src.task;
  d.pred_names = src.y_pred;
  if (src.task == TaskKind::kMulticlass) d.class_names = src.y_pred;
  if (!src.group.empty()) {
    auto groups = nonempty_strings(pred, src, src.group, "group id");
    auto namer = [&](std::size_t r) { return src.input.string() + ": line " + std::to_string(pred.line_of(r)); };
    GroupedPredictions g = aggregate_by_group(groups, y_true, y_pred, src.aggregation, namer);
    d.ids = g.groups;
    d.y_true = std::move(g.y_true);
    d.y_pred = std::move(g.y_pred);
    d.description = std::to_string(d.ids.size()) + " groups by '" + src.group + "', " + src.aggregation.name() +
                    " of " + std::to_string(n) + " rows of " + src.input.filename().string();
    return d;
  }
  d.y_true = std::move(y_true);
  d.y_pred = std::move(y_pred);
  d.description = std::to_string(n) + " rows of " + src.input.filename().string();
  if (!ids.empty()) {
    d.ids = ids;
    std::unordered_set<std::string> distinct(ids.begin(), ids.end());
    if (distinct.size() < ids.size()) {
      // Rows of one patient are not independent: resample patients, not rows.
      d.bootstrap_groups = ids;
      d.description += "; bootstrap resamples the " + std::to_string(distinct.size()) + " ids of '" + src.id + "'";
    }
  }
  return d;
}

}  // namespace tomograd::eval
