// bmd fit-ml RUN: classical regressors on the CNN features.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

struct FitMlOptions {
  std::string run;
  tasks::bmd::FitMlRequest request;
};

void run_fit_ml(const FitMlOptions& o) {
  // No model runs here: in a data-parallel job rank 0 alone fits and writes; the other ranks
  // never join a process group and exit at once.
  train::run_on_main_process([&] {
    for (const auto& [m, r2] : tasks::bmd::fit_ml(o.run, o.request)) std::cout << m << ": test R² " << r2 << "\n";
  });
}

}  // namespace

void setup_fit_ml(CLI::App& app) {
  auto o = std::make_shared<FitMlOptions>();
  auto* cmd = app.add_subcommand(
      "fit-ml",
      "Classical regressors on the CNN features: grid search with grouped K-fold CV on the training\n"
      "(+ validation) patients, refit, scored on the test patients. Writes RUN/ml/<model>/.\n"
      "Grids: svr C x epsilon; xgboost depth x learning rate; rf depth; elasticnet alpha x l1_ratio.\n"
      "Example: bmd fit-ml runs/r18 --model all");
  cmd->add_option("RUN", o->run, "run directory with features (bmd extract-features)")->required();
  cmd->add_option("--model", o->request.models, "svr|xgboost|rf|elasticnet|all, repeatable (default: svr)");
  cmd->add_option("--folds", o->request.folds, "cross-validation folds (default: 5)")->capture_default_str();
  cmd->add_option("--seed", o->request.seed, "fold assignment seed (default: 42)")->capture_default_str();
  cmd->add_flag("--force", o->request.force, "refit models that already exist in RUN/ml");
  cmd->callback([o] { run_fit_ml(*o); });
}

}  // namespace tomograd::app
