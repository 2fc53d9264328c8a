// tomograd ml fit|predict|models: classical models (SVR, XGBoost, random forest, ElasticNet) on
// feature CSVs, with grouped cross-validated grid search. The work is in tomograd::classic.
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "tomograd/classic/model_bundle.hpp"
#include "tomograd/classic/registry.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"

namespace tomograd::app {

namespace {

namespace cl = tomograd::classic;

struct MlFitOptions {
  std::string model, task = "regression", train, target, id, out, metric;
  std::vector<std::string> exclude, params, grid;
  int folds = 5, threads = 0;
  uint64_t seed = 42;
  bool force = false;
};

struct MlPredictOptions {
  std::string model, input, out;
  bool force = false;
};

struct MlModelsOptions {
  std::string model, task = "regression";
};

std::string metric_text(double v) {
  if (std::isnan(v)) return "n/a";
  std::ostringstream s;
  s << std::setprecision(4) << v;
  return s.str();
}

void run_fit(const MlFitOptions& o) {
  cl::check_model_dir(o.out, o.force);  // fail before a long search, not after
  cl::FitOptions f;
  f.model = o.model;
  f.task = cl::parse_task(o.task);
  f.params = cl::parse_param_assignments(o.params);
  f.grid = cl::parse_grid(o.grid);
  f.folds = o.folds;
  f.seed = o.seed;
  f.metric = o.metric;
  f.threads = o.threads;
  cl::model_registry().get(f.model, f.task);  // an unknown model fails before reading the file
  cl::FeatureTableOptions in;
  in.id_column = o.id;
  in.target_column = o.target;
  in.target_mode = cl::TargetMode::kRequired;
  in.exclude = o.exclude;
  cl::FeatureTable train = cl::read_feature_table(o.train, in);
  cl::ModelBundle bundle = cl::ModelBundle::fit(train, f);
  bundle.save(o.out, o.force);

  const auto& m = bundle.metadata();
  std::cout << "model: " << m["model"].get<std::string>() << " (" << m["task"].get<std::string>() << ") on "
            << train.num_rows() << " rows x " << train.feature_names.size() << " features, "
            << m["training"]["ids"].get<std::size_t>() << " ids\n";
  std::cout << "parameters: " << m["parameters"].dump() << "\n";
  const auto& cv = m["cross_validation"];
  if (!cv.is_null()) {
    const auto& best = cv["results"][cv["best_index"].get<std::size_t>()];
    std::cout << cv["folds"].get<int>() << "-fold CV grouped by '" << train.id_column << "', "
              << cv["results"].size() << " combination(s), best by " << cv["metric"].get<std::string>() << ":";
    for (const auto& [name, value] : best["mean"].items()) {
      double mean = value.is_null() ? std::nan("") : value.get<double>();
      double sd = best["std"][name].is_null() ? std::nan("") : best["std"][name].get<double>();
      std::cout << " " << name << " " << metric_text(mean) << " ± " << metric_text(sd);
    }
    std::cout << "\n";
  }
  std::cout << "saved to " << o.out << "\n";
}

void run_predict(const MlPredictOptions& o) {
  std::error_code ec;
  if (!o.force && std::filesystem::exists(o.out, ec)) {
    throw IoError("refusing to overwrite existing file '" + o.out + "' (choose another --out or pass --force)");
  }
  cl::ModelBundle bundle = cl::ModelBundle::load(o.model);
  cl::FeatureTable input = cl::read_feature_table(o.input, bundle.input_options());
  std::vector<double> predictions = bundle.predict(input);
  CsvTable table = bundle.prediction_table(input, predictions);
  write_file_atomic(o.out, table.to_string(), o.force ? Overwrite::kAllow : Overwrite::kNever);
  std::cout << "wrote " << predictions.size() << " predictions (" << bundle.model_name() << ", "
            << cl::task_name(bundle.task()) << ") to " << o.out << "\n";
}

void run_models(const MlModelsOptions& o) {
  cl::Task task = cl::parse_task(o.task);
  const auto& reg = cl::model_registry();
  std::vector<std::string> names = o.model.empty() ? reg.names(task) : std::vector<std::string>{o.model};
  for (const auto& name : names) {
    const cl::ModelEntry& e = reg.get(name, task);
    std::cout << e.name << " (" << cl::task_name(task) << "): " << e.description << "\n";
    for (const auto& p : e.params) {
      std::cout << "  " << std::left << std::setw(18) << p.name << std::setw(10) << p.default_value << std::setw(34)
                << p.range << p.description << "\n";
    }
  }
}

std::string model_list(cl::Task task) {
  std::string s;
  for (const auto& n : cl::model_registry().names(task)) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

void setup_ml(CLI::App& app) {
  auto* ml = app.add_subcommand(
      "ml",
      "Classical models on feature tables: SVR, XGBoost, random forest, ElasticNet (regression), and\n"
      "XGBoost, random forest, SVC (binary). Grid search with K-fold cross-validation grouped by\n"
      "patient id; features are standardized on training rows only. See docs/classic.md.\n"
      "Example: tomograd ml fit --model svr --train feats.csv --target bmd --grid C=0.1,1,10 --out bmd_svr");
  ml->require_subcommand(1);

  auto f = std::make_shared<MlFitOptions>();
  auto* fit = ml->add_subcommand(
      "fit",
      "Fit a model on a feature CSV (id column, feature columns, target column), choosing parameters\n"
      "by grid search with grouped K-fold CV, then refit on every row and save MODEL_DIR\n"
      "(metadata.json: features, scaler, parameters, CV scores per fold; plus the model file).\n"
      "Regression models: " + model_list(cl::Task::kRegression) + "; binary: " + model_list(cl::Task::kBinary) +
      ".\nParameters per model: tomograd ml models.\n"
      "Example: tomograd ml fit --model xgboost --train feats.csv --target bmd --id patient_id \\\n"
      "           --param n_estimators=200 --grid max_depth=2,4 --grid learning_rate=0.05,0.1 --out bmd_xgb");
  fit->add_option("--model", f->model, "model name (required): svr|xgboost|rf|elasticnet, or svc|xgboost|rf with --task binary")
      ->required();
  fit->add_option("--task", f->task, "regression|binary (default: regression; binary targets are 0/1)")
      ->capture_default_str();
  fit->add_option("--train", f->train, "training feature CSV (required)")->required();
  fit->add_option("--target", f->target, "target column (required), e.g. bmd")->required();
  fit->add_option("--id", f->id, "patient id column; CV folds keep each id together (default: the first column)");
  fit->add_option("--exclude", f->exclude, "columns that are neither id, target nor features (default: none)");
  fit->add_option("--param", f->params, "fixed parameter key=value, repeatable (default: the model's defaults)");
  fit->add_option("--grid", f->grid, "searched parameter key=v1,v2,..., repeatable; all combinations are tried "
                                     "(default: no grid)");
  fit->add_option("--folds", f->folds, "cross-validation folds, 0 = none (default: 5)")->capture_default_str();
  fit->add_option("--seed", f->seed, "seed of the fold assignment (default: 42); model seeds are --param seed=N")
      ->capture_default_str();
  fit->add_option("--metric", f->metric, "selection metric: r2|rmse|mae, or auc|log_loss|accuracy "
                                         "(default: r2 for regression, auc for binary)");
  fit->add_option("--threads", f->threads, "threads for CV fits and the final fit (default: 0 = all cores)")
      ->capture_default_str();
  fit->add_option("--out", f->out, "model folder to create (required); must be new or empty unless --force")
      ->required();
  fit->add_flag("--force", f->force, "overwrite the model in an existing --out folder (default: off)");
  fit->callback([f] { run_fit(*f); });

  auto p = std::make_shared<MlPredictOptions>();
  auto* predict = ml->add_subcommand(
      "predict",
      "Predict with a model folder written by 'ml fit'. The input CSV must have the training id column\n"
      "and exactly the training feature columns (any order); the target column is optional and copied\n"
      "through. Output CSV: id[,target],prediction (regression) or id[,target],probability,predicted_label\n"
      "(binary, label at 0.5).\n"
      "Example: tomograd ml predict --model bmd_svr --input test_feats.csv --out predictions.csv");
  predict->add_option("--model", p->model, "model folder (required)")->required();
  predict->add_option("--input", p->input, "feature CSV to predict on (required)")->required();
  predict->add_option("--out", p->out, "predictions CSV to write (required); not overwritten unless --force")
      ->required();
  predict->add_flag("--force", p->force, "overwrite an existing --out file (default: off)");
  predict->callback([p] { run_predict(*p); });

  auto m = std::make_shared<MlModelsOptions>();
  auto* models = ml->add_subcommand(
      "models",
      "List the models of a task and their parameters: name, default, allowed values, meaning.\n"
      "Example: tomograd ml models --task regression --model svr");
  models->add_option("--task", m->task, "regression|binary (default: regression)")->capture_default_str();
  models->add_option("--model", m->model, "only this model (default: all of the task)");
  models->callback([m] { run_models(*m); });
}

}  // namespace tomograd::app
