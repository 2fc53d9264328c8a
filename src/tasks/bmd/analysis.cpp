// BMD after training: classical models on CNN features, the comparison table, cross-validation
// and the list of runs.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "bmd_impl.hpp"
#include "tomograd/classic/feature_table.hpp"
#include "tomograd/classic/model_bundle.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/eval/evaluation.hpp"
#include "tomograd/eval/regression.hpp"
#include "tomograd/eval/report.hpp"
#include "tomograd/eval/report_model.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/distributed.hpp"
#include "tomograd/train/run_dir.hpp"

namespace tomograd::tasks::bmd {
namespace fs = std::filesystem;
using detail::num;

std::vector<std::pair<std::string, std::vector<std::string>>> default_grid(const std::string& model) {
  if (model == "svr") return {{"C", {"0.3", "1", "3", "10", "30"}}, {"epsilon", {"0.01", "0.05"}}};
  if (model == "xgboost") {
    return {{"n_estimators", {"200"}}, {"max_depth", {"2", "3"}}, {"learning_rate", {"0.03", "0.1"}},
            {"subsample", {"0.8"}}, {"colsample_bytree", {"0.5"}}};
  }
  if (model == "rf") return {{"n_estimators", {"300"}}, {"max_depth", {"4", "8"}}};
  if (model == "elasticnet") {
    return {{"alpha", {"0.001", "0.003", "0.01", "0.03", "0.1"}}, {"l1_ratio", {"0.1", "0.5", "0.9"}},
            {"max_iter", {"20000"}}};
  }
  throw ConfigError("unknown model '" + model + "' (valid: svr, xgboost, rf, elasticnet, all)");
}

namespace {

const std::vector<std::string> kModels = {"svr", "xgboost", "rf", "elasticnet"};
const std::vector<std::string> kCvMetrics = {"r2", "mae", "rmse", "pearson", "mape"};

/// Rows of several feature CSVs with the same header, as one table.
CsvTable concat_csv(const std::vector<fs::path>& files) {
  CsvTable out;
  for (const auto& f : files) {
    const CsvTable t = CsvTable::read(f);
    if (out.header().empty()) out = CsvTable(t.header(), {}, f.string());
    if (t.header() != out.header()) throw CsvError(f.string() + ": columns differ from " + files.front().string());
    for (std::size_t r = 0; r < t.num_rows(); ++r) out.add_row(t.row(r));
  }
  return out;
}

eval::Evaluation score(const std::vector<std::string>& ids, const std::vector<double>& y, const std::vector<double>& p,
                       const std::string& description, int bootstrap, const std::string& split = "test") {
  eval::EvaluationData d;
  d.task = eval::TaskKind::kRegression;
  d.split = split;
  d.ids = ids;
  d.y_true = y;
  for (double v : p) d.y_pred.push_back({v});
  d.pred_names = {"y_pred"};
  d.description = description;
  eval::EvaluationOptions o;
  o.bootstrap.resamples = bootstrap;
  o.bootstrap.progress = false;
  return eval::evaluate(std::move(d), o);
}

std::string cell(const eval::MetricEntry& m, int digits) {
  if (!m.value.defined()) return "n/a";
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << m.value.value();
  if (m.ci && m.ci->low.defined() && m.ci->high.defined()) {
    s << " [" << m.ci->low.value() << ", " << m.ci->high.value() << "]";
  }
  return s.str();
}

/// The cross-validation summary: mean ± sd over folds and pooled out-of-fold metrics, as a
/// Markdown table (returned) and in @p summary.
std::string summarize_folds(const CsvTable& oof, std::map<std::string, std::vector<double>>& per_metric, int folds,
                            const std::string& target, nlohmann::json& summary) {
  std::ostringstream md;
  md << "| metric | mean ± sd over " << folds << " folds | out-of-fold (all patients) |\n|---|---|---|\n";
  const auto ys = oof.numbers(target), ps = oof.numbers("bmd_pred");
  const auto pooled = eval::regression_metrics(ys, ps);
  for (const auto& key : kCvMetrics) {
    const auto& v = per_metric[key];
    double mu = 0, ss = 0;
    for (double x : v) mu += x;
    mu /= static_cast<double>(v.size());
    for (double x : v) ss += (x - mu) * (x - mu);
    const double sd = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
    const double pooled_v = pooled.value(key).value_or(std::nan(""));
    summary["mean"][key] = mu;
    summary["sd"][key] = sd;
    summary["out_of_fold"][key] = std::isfinite(pooled_v) ? nlohmann::json(pooled_v) : nlohmann::json(nullptr);
    char buf[128];
    std::snprintf(buf, sizeof buf, "| %s | %.3f ± %.3f | %.3f |\n", pooled.at(key).label.c_str(), mu, sd, pooled_v);
    md << buf;
  }
  summary["split"] = "out-of-fold";
  summary["n_patients"] = oof.num_rows();
  summary["threshold_source"] = "none (regression: no decision threshold)";
  summary["interval_method"] = "none for the pooled out-of-fold metrics (each fold's eval/test report has percentile "
                               "bootstrap intervals over its patients); mean ± sd over folds";
  return md.str();
}

}  // namespace

std::map<std::string, double> fit_ml(const fs::path& run_dir, const FitMlRequest& request) {
  const RunInfo run = open_run(run_dir);
  const fs::path fdir = run_dir / "features";
  if (!fs::is_regular_file(fdir / "train.csv") || !fs::is_regular_file(fdir / "test.csv")) {
    throw IoError(fdir.string() + ": no train.csv/test.csv features; run `bmd extract-features " + run_dir.string() +
                  "` first");
  }
  std::vector<fs::path> train_files{fdir / "train.csv"};
  if (fs::is_regular_file(fdir / "val.csv")) train_files.push_back(fdir / "val.csv");
  classic::FeatureTableOptions fo;
  fo.id_column = "patient_id";
  fo.target_column = run.config.data.target;
  fo.target_mode = classic::TargetMode::kRequired;
  const classic::FeatureTable train = classic::feature_table_from_csv(concat_csv(train_files), fo);
  const classic::FeatureTable test = classic::read_feature_table(fdir / "test.csv", fo);

  std::vector<std::string> models;
  for (const auto& m : request.models) {
    if (m == "all") models.insert(models.end(), kModels.begin(), kModels.end());
    else if (std::find(kModels.begin(), kModels.end(), m) != kModels.end()) models.push_back(m);
    else throw ConfigError("--model: unknown model '" + m + "' (valid: svr, xgboost, rf, elasticnet, all)");
  }
  std::map<std::string, double> r2;
  for (const auto& m : models) {
    const fs::path dir = run_dir / "ml" / m;
    train::require_empty_dir(dir, request.force, "pass --force to refit");
    classic::FitOptions o;
    o.model = m;
    o.task = classic::Task::kRegression;
    o.grid = default_grid(m);
    o.folds = std::min<int>(request.folds, static_cast<int>(train.num_rows()));
    o.seed = request.seed;
    logger()->info("fit-ml {}: grid search with {}-fold grouped CV on {} patients x {} features", m, o.folds,
                   train.num_rows(), train.feature_names.size());
    const classic::ModelBundle bundle = classic::ModelBundle::fit(train, o);
    bundle.save(dir, request.force);
    const std::vector<double> pred = bundle.predict(test);
    const eval::Evaluation ev = score(test.ids, test.y, pred,
                                      m + " on CNN features of " + run_dir.filename().string() + ", test patients",
                                      run.config.eval.bootstrap);
    eval::ReportOptions ro;
    ro.title = "BMD " + m + " on " + run.config.model.arch + " features — test split";
    ro.overwrite = request.force ? Overwrite::kAllow : Overwrite::kNever;
    eval::write_report(dir / "test", ev, ro);
    r2[m] = ev.metrics.value("r2").value_or(std::nan(""));
    logger()->info("fit-ml {}: test R² {:.3f} ({})", m, r2[m], (dir / "test" / "report.html").string());
  }
  return r2;
}

std::string compare_run(const fs::path& run_dir, int bootstrap, const std::string& device) {
  const RunInfo run = open_run(run_dir);
  struct Row {
    std::string name, source;
    eval::Evaluation ev;
  };
  std::vector<Row> rows;
  const fs::path cnn = run_dir / "eval" / "test" / "predictions.csv";
  if (!fs::is_regular_file(cnn)) evaluate_run(run_dir, "test", "best", false, device);
  {
    const auto p = detail::read_predictions(cnn, "y_true", "y_pred");
    rows.push_back({run.config.model.arch + " (CNN)", cnn.string(),
                    score(p.ids, p.y_true, p.y_pred, "CNN", bootstrap)});
  }
  for (const auto& m : kModels) {
    const fs::path f = run_dir / "ml" / m / "test" / "predictions.csv";
    if (!fs::is_regular_file(f)) continue;
    const auto p = detail::read_predictions(f, "y_true", "y_pred");
    rows.push_back({m + " (CNN features)", f.string(), score(p.ids, p.y_true, p.y_pred, m, bootstrap)});
  }
  const std::vector<std::pair<std::string, std::string>> cols{
      {"r2", "R²"}, {"mae", "MAE"}, {"rmse", "RMSE"}, {"pearson", "Pearson r"}, {"mape", "MAPE"}};
  std::ostringstream md;
  md << "| model | n |";
  for (const auto& c : cols) md << " " << c.second << " |";
  md << "\n|---|---|";
  for (std::size_t i = 0; i < cols.size(); ++i) md << "---|";
  md << "\n";
  nlohmann::json j;
  j["run"] = run_dir.string();
  j["split"] = "test";
  j["bootstrap_resamples"] = bootstrap;
  j["confidence"] = 0.95;
  j["n_patients"] = rows.empty() ? 0 : rows.front().ev.num_patients();
  j["threshold_source"] = "none (regression: no decision threshold)";
  j["interval_method"] = rows.empty() ? std::string("none") : rows.front().ev.interval_method();
  j["models"] = nlohmann::json::array();
  eval::ReportTable report_table;
  report_table.header = {"model", "n"};
  for (const auto& c : cols) report_table.header.push_back(c.second);
  for (const auto& r : rows) {
    md << "| " << r.name << " | " << r.ev.num_rows() << " |";
    std::vector<std::string> cells{r.name, std::to_string(r.ev.num_rows())};
    nlohmann::json jm{{"model", r.name}, {"predictions", r.source}, {"n", r.ev.num_rows()}};
    for (const auto& c : cols) {
      const auto& m = r.ev.metrics.at(c.first);
      md << " " << cell(m, 3) << " |";
      cells.push_back(cell(m, 3));
      jm[c.first] = m.value.defined() ? nlohmann::json(m.value.value()) : nlohmann::json(nullptr);
      if (m.ci && m.ci->low.defined() && m.ci->high.defined()) {
        jm[c.first + "_ci"] = {m.ci->low.value(), m.ci->high.value()};
      }
    }
    md << "\n";
    report_table.add(std::move(cells));
    j["models"].push_back(jm);
  }
  eval::Report report;
  report.title = "BMD: CNN vs classical models on CNN features";
  report.summary = "Run " + run_dir.string() + ", test patients; 95 % percentile bootstrap intervals over " +
                   std::to_string(bootstrap) + " patient resamples. MAPE is a fraction.";
  report.section("Test patients").table(report_table);
  const std::string table = md.str();
  train::run_on_main_process([&] {
    write_file_atomic(run_dir / "compare.md",
                      "# BMD comparison (test split, 95 % bootstrap intervals)\n\n- Split: test (" +
                          std::to_string(rows.empty() ? 0 : rows.front().ev.num_patients()) +
                          " patients)\n- Threshold: none (regression)\n- Intervals: " +
                          (rows.empty() ? std::string("none") : rows.front().ev.interval_method()) + "\n\n" + table);
    write_file_atomic(run_dir / "compare.json", j.dump(2) + "\n");
    write_file_atomic(run_dir / "compare.html", eval::to_html(report));
  });
  return table;
}

std::string cross_validate(const BmdConfig& config, int folds, const fs::path& out, bool force,
                           const std::string& device) {
  train::require_empty_dir(out, force, "pass --force to write into it");
  std::vector<std::string> problems;
  std::vector<Patient> patients = read_manifest(config.data.manifest, config.data.target, true, problems);
  detail::throw_if_problems(config.data.manifest, problems);
  const std::vector<int> fold = stratified_folds(patients, folds, config.data.split_seed);
  CsvTable oof({"patient_id", "fold", config.data.target, "bmd_pred"}, {});
  nlohmann::json summary;
  summary["folds"] = nlohmann::json::array();
  std::map<std::string, std::vector<double>> per_metric;
  for (int k = 0; k < folds; ++k) {
    std::vector<Patient> cohort = patients;
    for (std::size_t i = 0; i < cohort.size(); ++i) {
      cohort[i].split = fold[i] == k ? "test" : "";
    }
    // Validation patients (early stopping, best.pt) come from the training folds only.
    const double tv = config.data.train + config.data.val;
    assign_splits(cohort, config.data.train / tv, config.data.val / tv, 0.0, config.data.split_seed + 1000 + k);
    const fs::path dir = out / ("fold_" + std::to_string(k + 1));
    logger()->info("cv fold {}/{}: {} test patients", k + 1, folds,
                   std::count_if(cohort.begin(), cohort.end(), [](const Patient& p) { return p.split == "test"; }));
    TrainRequest req;
    req.out = dir;
    req.force = force;
    req.device = device;
    detail::train_cohort(config, req, cohort);
    // Sharded over the ranks of a data-parallel job; rank 0 writes, every rank reads the result.
    evaluate_run(dir, "test", "best", force, device.empty() ? config.train.device : device);
    const auto p = detail::read_predictions(dir / "eval" / "test" / "predictions.csv", "y_true", "y_pred");
    for (std::size_t i = 0; i < p.ids.size(); ++i) {
      oof.add_row({p.ids[i], std::to_string(k + 1), num(p.y_true[i]), num(p.y_pred[i])});
    }
    const auto m = eval::regression_metrics(p.y_true, p.y_pred);
    nlohmann::json jf{{"fold", k + 1}, {"n_test", p.ids.size()}};
    for (const auto& key : kCvMetrics) {
      const double v = m.value(key).value_or(std::nan(""));
      jf[key] = std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
      per_metric[key].push_back(v);
    }
    summary["folds"].push_back(jf);
  }
  const std::string md = summarize_folds(oof, per_metric, folds, config.data.target, summary);
  train::run_on_main_process([&] {
    detail::write_csv(out / "oof_predictions.csv", oof, force);
    write_file_atomic(out / "cv_summary.json", summary.dump(2) + "\n");
    write_file_atomic(out / "cv_summary.md", "# BMD cross-validation\n\n- Split: out-of-fold (" +
                                                 std::to_string(oof.num_rows()) +
                                                 " patients, each predicted by the fold that held it out)\n"
                                                 "- Threshold: none (regression)\n- Intervals: none for the pooled "
                                                 "metrics; mean ± sd over folds\n\n" +
                                                 md);
  });
  return md;
}

std::string list_runs(const fs::path& dir) {
  const std::vector<train::RunDir> runs = train::list_runs(dir, {"splits.csv"});
  std::ostringstream md;
  md << "| run | model | epochs | checkpoints | best val R² | test R² | test MAE |\n|---|---|---|---|---|---|---|\n";
  for (const auto& run : runs) {
    const fs::path& r = run.path();
    std::string arch = "?";
    try {
      arch = load_config(run.config_file()).model.arch;
    } catch (const Error& e) {
      arch = "(unreadable config.yaml)";
      logger()->warn("{}", e.what());
    }
    const std::vector<std::string> ckpts = run.checkpoint_tags();
    std::string ck, epochs = "-", val = "-", test_r2 = "-", test_mae = "-";
    for (const auto& c : ckpts) ck += (ck.empty() ? "" : ", ") + c;
    try {
      if (fs::is_regular_file(r / "checkpoints" / "last.pt")) {
        epochs = std::to_string(train::read_checkpoint_meta(r / "checkpoints" / "last.pt").epoch + 1);
      }
      if (fs::is_regular_file(r / "checkpoints" / "best.pt")) {
        const auto m = train::read_checkpoint_meta(r / "checkpoints" / "best.pt");
        if (auto it = m.metrics.find("val_r2"); it != m.metrics.end()) val = num(it->second);
      }
    } catch (const Error& e) {
      logger()->warn("{}: {}", r.string(), e.what());
    }
    if (fs::is_regular_file(r / "eval" / "test" / "metrics.json")) {
      const auto j = nlohmann::json::parse(read_file(r / "eval" / "test" / "metrics.json"), nullptr, false);
      if (!j.is_discarded()) {
        if (j.contains("r2") && j["r2"].is_number()) test_r2 = num(j["r2"].get<double>());
        if (j.contains("mae") && j["mae"].is_number()) test_mae = num(j["mae"].get<double>());
      }
    }
    md << "| " << r.string() << " | " << arch << " | " << epochs << " | " << (ck.empty() ? "-" : ck) << " | " << val
       << " | " << test_r2 << " | " << test_mae << " |\n";
  }
  if (runs.empty()) md << "| (no runs under " << dir.string() << ") | | | | | | |\n";
  return md.str();
}

}  // namespace tomograd::tasks::bmd
