// bmd cv --config C --manifest M --folds K --out DIR: grouped K-fold cross-validation.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

struct CvOptions {
  ConfigArgs config;
  int folds = 5;
  std::string out;
  bool force = false;
  std::string device;
};

void run_cv(const CvOptions& o) {
  const std::string summary = tasks::bmd::cross_validate(load(o.config), o.folds, o.out, o.force, o.device);
  if (train::is_main_process()) std::cout << summary;  // rank 0 of a data-parallel job prints
}

}  // namespace

void setup_cv(CLI::App& app) {
  auto o = std::make_shared<CvOptions>();
  auto* cmd = app.add_subcommand(
      "cv",
      "Grouped K-fold cross-validation stratified by BMD quantile: one full run per fold in\n"
      "OUT/fold_<k>/ (validation patients drawn from the training folds), out-of-fold predictions\n"
      "and mean ± sd of every metric over folds in OUT/cv_summary.{md,json}.\n"
      "Example: bmd cv --config configs/bmd_resnet18.yaml --manifest cohort/manifest.csv --folds 5 --out runs/cv");
  add_config_options(cmd, o->config);
  cmd->add_option("--folds", o->folds, "number of folds (default: 5)")->capture_default_str();
  cmd->add_option("--out", o->out, "output folder")->required();
  cmd->add_flag("--force", o->force, "write into a non-empty output folder");
  add_device_option(cmd, o->device, "auto|cpu|cuda|cuda:N (default: the config's train.device)");
  cmd->callback([o] { run_cv(*o); });
}

}  // namespace tomograd::app
