// bmd: spine bone mineral density (g/cm²) from lumbar MRI — train, evaluate, predict, CNN
// features + classical regressors, comparison, cross-validation. One cmd_<name>.cpp per
// subcommand; the work is in tomograd::tasks::bmd.
#include <CLI/CLI.hpp>

#include "../common/app_main.hpp"
#include "commands.hpp"
#include "tomograd/core/build_info.hpp"

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
  tomograd::app::setup_train(app);
  tomograd::app::setup_evaluate(app);
  tomograd::app::setup_predict(app);
  tomograd::app::setup_extract_features(app);
  tomograd::app::setup_fit_ml(app);
  tomograd::app::setup_compare(app);
  tomograd::app::setup_cv(app);
  tomograd::app::setup_runs(app);
  return tomograd::app::run_app(app, argc, argv);
}
