#include "tomograd/classic/grid_search.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <set>

#include "tomograd/classic/group_kfold.hpp"
#include "tomograd/classic/metrics.hpp"
#include "tomograd/classic/scaler.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/parallel.hpp"
#include "tomograd/core/progress.hpp"

namespace tomograd::classic {

namespace {

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::pair<std::string, std::string> split_assignment(const std::string& text, const char* option) {
  auto eq = text.find('=');
  if (eq == std::string::npos) {
    throw ConfigError(std::string(option) + " '" + text + "': expected key=value");
  }
  std::string key = trim(text.substr(0, eq));
  if (key.empty()) throw ConfigError(std::string(option) + " '" + text + "': empty key");
  return {key, trim(text.substr(eq + 1))};
}

// A parameter's text as typed JSON (numbers and booleans unquoted), for the metadata.
nlohmann::json typed(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  if (auto v = parse_number(text)) {
    if (*v == std::floor(*v) && std::fabs(*v) < 1e15 && text.find_first_of(".eE") == std::string::npos) {
      return static_cast<long long>(*v);
    }
    return *v;
  }
  return text;
}

nlohmann::json typed(const ParamMap& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : m) j[k] = typed(v);
  return j;
}

const std::set<std::string>& metrics_of(Task task) {
  static const std::set<std::string> regression{"r2", "mae", "rmse"};
  static const std::set<std::string> binary{"auc", "accuracy", "log_loss"};
  return task == Task::kRegression ? regression : binary;
}

// One fold's data, standardized with a scaler fitted on its training rows only.
struct FoldData {
  Matrix x_train, x_test;
  std::vector<double> y_train, y_test;
};

}  // namespace

ParamMap parse_param_assignments(const std::vector<std::string>& assignments) {
  ParamMap m;
  for (const auto& a : assignments) {
    auto [k, v] = split_assignment(a, "--param");
    if (!m.emplace(k, v).second) throw ConfigError("--param: key '" + k + "' given twice");
  }
  return m;
}

ParamGrid parse_grid(const std::vector<std::string>& specs) {
  ParamGrid grid;
  for (const auto& s : specs) {
    auto [k, list] = split_assignment(s, "--grid");
    for (const auto& [existing, values] : grid) {
      if (existing == k) throw ConfigError("--grid: key '" + k + "' given twice");
    }
    std::vector<std::string> values;
    std::size_t start = 0;
    while (true) {
      auto comma = list.find(',', start);
      std::string v = trim(list.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
      if (v.empty()) throw ConfigError("--grid '" + s + "': empty value (expected key=v1,v2,...)");
      values.push_back(v);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    grid.emplace_back(k, std::move(values));
  }
  return grid;
}

std::vector<ParamMap> expand_grid(const ParamMap& base, const ParamGrid& grid) {
  for (const auto& [k, values] : grid) {
    if (base.count(k)) throw ConfigError("parameter '" + k + "' is given both as --param and as --grid");
  }
  std::vector<ParamMap> out{base};
  for (const auto& [k, values] : grid) {
    std::vector<ParamMap> next;
    for (const auto& partial : out) {
      for (const auto& v : values) {
        ParamMap m = partial;
        m[k] = v;
        next.push_back(std::move(m));
      }
    }
    out = std::move(next);
  }
  return out;
}

nlohmann::json GridSearchResult::to_json() const {
  nlohmann::json j;
  j["folds"] = folds;
  j["seed"] = seed;
  j["grouped_by_id"] = true;
  j["metric"] = metric;
  j["higher_is_better"] = higher_is_better;
  nlohmann::json g = nlohmann::json::object();
  for (const auto& [k, values] : grid) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& v : values) arr.push_back(typed(v));
    g[k] = arr;
  }
  j["grid"] = g;
  j["results"] = nlohmann::json::array();
  for (const auto& p : points) {
    nlohmann::json r;
    r["parameters"] = typed(p.params);
    r["folds"] = nlohmann::json::array();
    for (const auto& f : p.folds) {
      nlohmann::json fj{{"fold", f.fold}, {"n_train", f.n_train}, {"n_test", f.n_test}};
      for (const auto& [name, v] : f.scores) fj[name] = v;
      r["folds"].push_back(fj);
    }
    r["mean"] = p.mean;
    r["std"] = p.stddev;
    j["results"].push_back(r);
  }
  j["best_index"] = best;
  if (best < points.size()) {
    j["best_parameters"] = typed(points[best].params);
    j["best_mean"] = points[best].mean;
  }
  j["seconds"] = seconds;
  return j;
}

namespace {

/// The selection metric (the task's default when none is given), checked against the task.
std::string selection_metric(const ModelEntry& model, const GridSearchOptions& options) {
  const std::string metric =
      options.metric.empty() ? (model.task == Task::kRegression ? "r2" : "auc") : options.metric;
  higher_is_better(metric);  // throws for an unknown metric
  if (!metrics_of(model.task).count(metric)) {
    throw ConfigError("metric '" + metric + "' is not a " + task_name(model.task) + " metric (valid: " +
                      (model.task == Task::kRegression ? "mae, r2, rmse" : "accuracy, auc, log_loss") + ")");
  }
  return metric;
}

std::vector<FoldData> standardized_folds(const Matrix& x, const std::vector<double>& y,
                                         const std::vector<int>& fold_of_row, int n_folds) {
  std::vector<FoldData> folds(static_cast<std::size_t>(n_folds));
  for (int k = 0; k < n_folds; ++k) {
    FoldRows rows = fold_rows(fold_of_row, k);
    StandardScaler scaler;
    Matrix x_train = x.select_rows(rows.train);
    scaler.fit(x_train);
    FoldData& d = folds[static_cast<std::size_t>(k)];
    d.x_train = scaler.transform(x_train);
    d.x_test = scaler.transform(x.select_rows(rows.test));
    d.y_train = select(y, rows.train);
    d.y_test = select(y, rows.test);
  }
  return folds;
}

/// Fits one single-threaded model on a fold's training rows and scores its test rows.
std::map<std::string, double> fit_and_score(const ModelEntry& model, const ParamMap& params, const FoldData& d) {
  if (model.task == Task::kRegression) {
    auto m = model.make_regressor(params);
    m->set_threads(1);
    m->fit(d.x_train, d.y_train);
    return to_map(regression_scores(d.y_test, m->predict(d.x_test)));
  }
  auto m = model.make_classifier(params);
  m->set_threads(1);
  m->fit(d.x_train, d.y_train);
  return to_map(binary_scores(d.y_test, m->predict_proba(d.x_test)));
}

/// Mean and standard deviation of every score over a point's folds (NaN folds left out).
void summarize(GridPoint& p) {
  for (const auto& [name, unused] : p.folds.front().scores) {
    double sum = 0, sum2 = 0, n = 0;
    for (const auto& f : p.folds) {
      double v = f.scores.at(name);
      if (std::isnan(v)) continue;  // e.g. R² of a fold whose targets are all equal
      sum += v;
      sum2 += v * v;
      n += 1;
    }
    double mean = n > 0 ? sum / n : std::nan("");
    p.mean[name] = mean;
    p.stddev[name] = n > 0 ? std::sqrt(std::max(0.0, sum2 / n - mean * mean)) : std::nan("");
  }
}

/// Best by the mean selection metric; NaN never wins; ties keep the earlier combination.
std::size_t best_point(const GridSearchResult& result) {
  std::size_t best = 0;
  double best_value = std::nan("");
  for (std::size_t c = 0; c < result.points.size(); ++c) {
    double v = result.points[c].mean.at(result.metric);
    if (std::isnan(v)) continue;
    if (std::isnan(best_value) || (result.higher_is_better ? v > best_value : v < best_value)) {
      best_value = v;
      best = c;
    }
  }
  return best;
}

}  // namespace

GridSearchResult grid_search(const ModelEntry& model, const ParamMap& base, const ParamGrid& grid, const Matrix& x,
                             const std::vector<double>& y, const std::vector<std::string>& groups,
                             const GridSearchOptions& options) {
  auto start = std::chrono::steady_clock::now();
  GridSearchResult result;
  result.model = model.name;
  result.task = model.task;
  result.folds = options.folds;
  result.seed = options.seed;
  result.grid = grid;
  result.metric = selection_metric(model, options);
  result.higher_is_better = higher_is_better(result.metric);
  if (x.rows() != y.size() || x.rows() != groups.size()) {
    throw ValueError("grid search: " + std::to_string(x.rows()) + " rows, " + std::to_string(y.size()) +
                     " targets and " + std::to_string(groups.size()) + " ids");
  }

  // Check every combination before the first fit, so a typo fails at once, not after minutes.
  std::vector<ParamMap> combos = expand_grid(base, grid);
  for (auto& c : combos) c = model.resolve(c);

  result.fold_of_row = group_k_fold(groups, options.folds, options.seed);
  const std::vector<FoldData> folds = standardized_folds(x, y, result.fold_of_row, options.folds);

  const std::size_t n_folds = folds.size();
  const std::size_t n_tasks = combos.size() * n_folds;
  result.points.resize(combos.size());
  for (std::size_t c = 0; c < combos.size(); ++c) {
    result.points[c].params = combos[c];
    result.points[c].folds.resize(n_folds);
  }
  logger()->info("grid search: {} {} model(s) x {} folds = {} fits on {} rows x {} features", combos.size(),
                 model.name, n_folds, n_tasks, x.rows(), x.cols());
  ProgressBar bar(static_cast<int64_t>(n_tasks), "grid search", "fits");
  // Each fit is single-threaded and fits run side by side: on small tables (hundreds of rows)
  // this scales better than giving one XGBoost fit all cores.
  parallel_for(n_tasks, options.threads, [&](std::size_t t) {
    const std::size_t c = t / n_folds, k = t % n_folds;
    const FoldData& d = folds[k];
    FoldScores& out = result.points[c].folds[k];
    out.fold = static_cast<int>(k);
    out.n_train = d.y_train.size();
    out.n_test = d.y_test.size();
    try {
      out.scores = fit_and_score(model, combos[c], d);
    } catch (const ValueError& e) {
      throw ValueError("cross-validation fold " + std::to_string(k + 1) + " of " + std::to_string(n_folds) + ": " +
                       e.what());
    }
    bar.tick();
  });
  bar.finish();

  for (auto& p : result.points) summarize(p);
  result.best = best_point(result);
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace tomograd::classic
