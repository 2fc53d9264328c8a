// bmd: spine bone mineral density (g/cm²) from lumbar MRI — train, evaluate, predict, CNN
// features + classical regressors, comparison, cross-validation. The work is in tomograd::tasks.
#include <CLI/CLI.hpp>

#include "../common/app_main.hpp"

#include <iostream>
#include <memory>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/build_info.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/tasks/bmd.hpp"

namespace bmd = tomograd::tasks::bmd;

namespace {

struct ConfigArgs {
  std::string config;
  std::string manifest;
  std::vector<std::string> set;
};

void add_config_options(CLI::App* cmd, ConfigArgs& a) {
  cmd->add_option("--config", a.config, "run configuration YAML (configs/bmd_resnet18.yaml, configs/bmd_simplecnn.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--manifest", a.manifest,
                  "manifest CSV patient_id,path,bmd[,split] (shorthand for --set data.manifest=FILE)");
  cmd->add_option("--set", a.set, "override a config key, repeatable: --set optim.lr=3e-4 --set train.epochs=5");
}

void add_checkpoint_option(CLI::App* cmd, std::string& checkpoint) {
  cmd->add_option("--checkpoint", checkpoint, "best|last|final|best_val_r2 or a .pt path (default: best)")
      ->capture_default_str();
}

bmd::BmdConfig load(const ConfigArgs& a) {
  std::vector<std::string> overrides = a.set;
  if (!a.manifest.empty()) overrides.push_back("data.manifest=" + a.manifest);
  return bmd::load_config(a.config, overrides);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bmd " TOMOGRAD_VERSION
               ": spine bone mineral density (DXA, g/cm²) regressed from lumbar MRI.\n"
               "2.5D slices (adjacent slices as channels) into a CNN (ResNet18 transfer learning or the\n"
               "SimpleCNN baseline), patient-level metrics with bootstrap intervals, then CNN features\n"
               "into classical regressors (SVR, XGBoost, random forest, ElasticNet). See docs/bmd.md.\n"
               "Typical session:\n"
               "  tomograd synth bmd --out cohort --patients 80 --scale 0.125\n"
               "  bmd train --config configs/bmd_resnet18.yaml --manifest cohort/manifest.csv --out runs/r18\n"
               "  bmd evaluate runs/r18 && bmd extract-features runs/r18\n"
               "  bmd fit-ml runs/r18 --model all && bmd compare runs/r18",
               "bmd"};
  tomograd::app::add_global_options(app, TOMOGRAD_VERSION);

  // train
  auto train_args = std::make_shared<ConfigArgs>();
  auto train_req = std::make_shared<bmd::TrainRequest>();
  auto train_out = std::make_shared<std::string>();
  auto* train = app.add_subcommand(
      "train",
      "Train a CNN on the manifest's patients (split 80/10/10 by patient, stratified by BMD, unless the\n"
      "manifest has a split column). Every manifest problem is reported before training starts.\n"
      "Writes RUN/config.yaml, splits.csv, target_scaler.json, history.csv, train.log, checkpoints/.\n"
      "Example: bmd train --config configs/bmd_resnet18.yaml --manifest cohort/manifest.csv --out runs/r18 \\\n"
      "           --set train.epochs=20 --set optim.lr=3e-4");
  add_config_options(train, *train_args);
  train->add_option("--out", *train_out, "run directory (must not exist or be empty)")->required();
  train->add_flag("--resume", train_req->resume, "continue the run in --out from checkpoints/last.pt");
  train->add_flag("--force", train_req->force, "train into a non-empty run directory (replaces its checkpoints)");
  train->callback([=] {
    train_req->out = *train_out;
    const auto config = load(*train_args);
    const auto s = bmd::train_model(config, *train_req);
    std::cout << "trained " << s.epochs_run << " epochs; best epoch " << s.best_epoch + 1 << " ("
              << config.train.monitor << " " << s.best_value << "); run: " << *train_out << "\n";
  });

  // evaluate
  auto run = std::make_shared<std::string>();
  auto split = std::make_shared<std::string>("test");
  auto checkpoint = std::make_shared<std::string>("best");
  auto force = std::make_shared<bool>(false);
  auto* evaluate = app.add_subcommand(
      "evaluate",
      "Patient-level metrics (R², MAE, RMSE, Pearson, MAPE, ...) with 95 % bootstrap intervals over\n"
      "patients, predictions.csv, summary.md and report.html in RUN/eval/<split>/.\n"
      "Example: bmd evaluate runs/r18 --split test");
  evaluate->add_option("RUN", *run, "run directory written by bmd train")->required();
  evaluate->add_option("--split", *split, "train|val|test|all (default: test)")->capture_default_str();
  add_checkpoint_option(evaluate, *checkpoint);
  evaluate->add_flag("--force", *force, "replace an earlier evaluation of this split");
  evaluate->callback([=] {
    const auto dir = bmd::evaluate_run(*run, *split, *checkpoint, *force);
    std::cout << "wrote " << (dir / "report.html").string() << "\n";
    std::cout << tomograd::read_file(dir / "summary.md");
  });

  // predict
  auto input = std::make_shared<std::string>();
  auto out_file = std::make_shared<std::string>();
  auto* predict = app.add_subcommand(
      "predict",
      "Predict BMD for new studies: a manifest CSV (patient_id,path), a folder with one subfolder per\n"
      "patient, or one series. Output: patient_id,bmd_pred (+ the target when the manifest has it).\n"
      "Example: bmd predict runs/r18 --input new_patients/ --out predictions.csv");
  predict->add_option("RUN", *run, "run directory written by bmd train")->required();
  predict->add_option("--input", *input, "manifest .csv, folder of patient folders, or one series")->required();
  predict->add_option("--out", *out_file, "output CSV")->required();
  add_checkpoint_option(predict, *checkpoint);
  predict->add_flag("--force", *force, "replace an existing output file");
  predict->callback([=] {
    bmd::predict_to_file(*run, *input, *out_file, *checkpoint, *force);
    std::cout << "wrote " << *out_file << "\n";
  });

  // extract-features
  auto* features = app.add_subcommand(
      "extract-features",
      "Per-patient CNN embeddings (penultimate layer, averaged over the selected slices) for every\n"
      "split: RUN/features/{train,val,test}.csv with columns patient_id,bmd,f0..f{E-1}.\n"
      "Example: bmd extract-features runs/r18");
  features->add_option("RUN", *run, "run directory written by bmd train")->required();
  add_checkpoint_option(features, *checkpoint);
  features->add_flag("--force", *force, "replace existing feature files");
  features->callback([=] {
    for (const auto& f : bmd::extract_features(*run, *checkpoint, *force)) std::cout << "wrote " << f.string() << "\n";
  });

  // fit-ml
  auto ml = std::make_shared<bmd::FitMlRequest>();
  auto* fit_ml = app.add_subcommand(
      "fit-ml",
      "Classical regressors on the CNN features: grid search with grouped K-fold CV on the training\n"
      "(+ validation) patients, refit, scored on the test patients. Writes RUN/ml/<model>/.\n"
      "Grids: svr C x epsilon; xgboost depth x learning rate; rf depth; elasticnet alpha x l1_ratio.\n"
      "Example: bmd fit-ml runs/r18 --model all");
  fit_ml->add_option("RUN", *run, "run directory with features (bmd extract-features)")->required();
  fit_ml->add_option("--model", ml->models, "svr|xgboost|rf|elasticnet|all, repeatable (default: svr)");
  fit_ml->add_option("--folds", ml->folds, "cross-validation folds (default: 5)")->capture_default_str();
  fit_ml->add_option("--seed", ml->seed, "fold assignment seed (default: 42)")->capture_default_str();
  fit_ml->add_flag("--force", ml->force, "refit models that already exist in RUN/ml");
  fit_ml->callback([=] {
    for (const auto& [m, r2] : bmd::fit_ml(*run, *ml)) std::cout << m << ": test R² " << r2 << "\n";
  });

  // compare
  auto bootstrap = std::make_shared<int>(1000);
  auto* compare = app.add_subcommand(
      "compare",
      "One table on the test patients: the CNN and every fitted classical model, R², MAE, RMSE,\n"
      "Pearson and MAPE with 95 % bootstrap intervals. Writes RUN/compare.{md,json,html}.\n"
      "Example: bmd compare runs/r18");
  compare->add_option("RUN", *run, "run directory")->required();
  compare->add_option("--bootstrap", *bootstrap, "patient resamples for the intervals (default: 1000)")
      ->capture_default_str();
  compare->callback([=] { std::cout << bmd::compare_run(*run, *bootstrap); });

  // cv
  auto cv_args = std::make_shared<ConfigArgs>();
  auto folds = std::make_shared<int>(5);
  auto cv_out = std::make_shared<std::string>();
  auto* cv = app.add_subcommand(
      "cv",
      "Grouped K-fold cross-validation stratified by BMD quantile: one full run per fold in\n"
      "OUT/fold_<k>/ (validation patients drawn from the training folds), out-of-fold predictions\n"
      "and mean ± sd of every metric over folds in OUT/cv_summary.{md,json}.\n"
      "Example: bmd cv --config configs/bmd_resnet18.yaml --manifest cohort/manifest.csv --folds 5 --out runs/cv");
  add_config_options(cv, *cv_args);
  cv->add_option("--folds", *folds, "number of folds (default: 5)")->capture_default_str();
  cv->add_option("--out", *cv_out, "output folder")->required();
  cv->add_flag("--force", *force, "write into a non-empty output folder");
  cv->callback([=] { std::cout << bmd::cross_validate(load(*cv_args), *folds, *cv_out, *force); });

  // runs
  auto runs_dir = std::make_shared<std::string>("runs");
  auto* runs = app.add_subcommand("runs",
                                  "List the runs under DIR (two levels deep) with model, epochs, checkpoints and\n"
                                  "key metrics. Example: bmd runs runs/");
  runs->add_option("DIR", *runs_dir, "folder holding run directories (default: runs)")->capture_default_str();
  runs->callback([=] { std::cout << bmd::list_runs(*runs_dir); });

  return tomograd::app::run_app(app, argc, argv);
}
