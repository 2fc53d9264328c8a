#include "tomograd/classic/feature_table.hpp"

#include <algorithm>
#include <set>

#include "tomograd/core/error.hpp"

namespace tomograd::classic {

namespace {

std::string join(const std::vector<std::string>& v, std::size_t limit = 12) {
  std::string s;
  for (std::size_t i = 0; i < v.size() && i < limit; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > limit) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

FeatureTable feature_table_from_csv(const CsvTable& csv, const FeatureTableOptions& options) {
  const std::string& src = csv.source();
  if (csv.num_cols() == 0) throw CsvError(src + ": no columns");
  if (csv.num_rows() == 0) throw CsvError(src + ": no data rows (only a header)");

  FeatureTable t;
  t.source = src;
  t.id_column = options.id_column.empty() ? csv.header()[0] : options.id_column;
  std::size_t id_col = csv.column_index(t.id_column);  // throws "missing column" with the list

  for (const auto& e : options.exclude) csv.column_index(e);  // a typo in --exclude is an error too

  bool with_target = false;
  if (options.target_mode != TargetMode::kNone) {
    if (options.target_column.empty()) throw ValueError(src + ": no target column given");
    if (options.target_column == t.id_column) {
      throw ValueError(src + ": the target column '" + options.target_column + "' is also the id column");
    }
    if (options.target_mode == TargetMode::kRequired) csv.column_index(options.target_column);
    with_target = csv.has_column(options.target_column);
  }
  if (with_target) t.target_column = options.target_column;

  auto is_reserved = [&](const std::string& name) {
    return name == t.id_column || (!options.target_column.empty() && name == options.target_column &&
                                   options.target_mode != TargetMode::kNone) ||
           contains(options.exclude, name);
  };

  if (options.features.empty()) {
    for (const auto& name : csv.header()) {
      if (!is_reserved(name)) t.feature_names.push_back(name);
    }
    if (t.feature_names.empty()) {
      throw CsvError(src + ": no feature columns (columns: " + join(csv.header()) + "; id column '" + t.id_column +
                     "'" + (with_target ? ", target '" + t.target_column + "'" : std::string()) + ")");
    }
  } else {
    std::vector<std::string> missing, extra;
    for (const auto& name : options.features) {
      if (!csv.has_column(name)) missing.push_back(name);
    }
    for (const auto& name : csv.header()) {
      if (!is_reserved(name) && !contains(options.features, name)) extra.push_back(name);
    }
    if (!missing.empty()) {
      throw CsvError(src + ": missing " + std::to_string(missing.size()) +
                     " feature column(s) the model was trained on: " + join(missing));
    }
    if (!extra.empty()) {
      throw CsvError(src + ": column(s) the model was not trained on: " + join(extra) +
                     " (the features must be the training features; exclude other columns)");
    }
    t.feature_names = options.features;
  }

  const std::size_t n = csv.num_rows(), f = t.feature_names.size();
  t.ids.reserve(n);
  t.lines.reserve(n);
  for (std::size_t r = 0; r < n; ++r) {
    const std::string& id = csv.at(r, id_col);
    if (id.find_first_not_of(" \t") == std::string::npos) {
      throw CsvError(src + ": line " + std::to_string(csv.line_of(r)) + ", column '" + t.id_column +
                     "': empty id");
    }
    t.ids.push_back(id);
    t.lines.push_back(csv.line_of(r));
  }
  t.x = Matrix(n, f);
  for (std::size_t j = 0; j < f; ++j) {
    std::vector<double> col = csv.numbers(t.feature_names[j]);  // names line, column and value
    for (std::size_t r = 0; r < n; ++r) t.x(r, j) = col[r];
  }
  if (with_target) t.y = csv.numbers(t.target_column);
  return t;
}

FeatureTable read_feature_table(const std::filesystem::path& path, const FeatureTableOptions& options) {
  return feature_table_from_csv(CsvTable::read(path), options);
}

}  // namespace tomograd::classic
