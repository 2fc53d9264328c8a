// metastasis: patient-level brain metastasis detection from head CT — preprocess, train,
// infer, evaluate. One cmd_<name>.cpp per subcommand; the work is in tomograd::tasks::metastasis.
#include <CLI/CLI.hpp>

#include "../common/app_main.hpp"
#include "commands.hpp"
#include "tomograd/core/build_info.hpp"

int main(int argc, char** argv) {
  CLI::App app{"metastasis " TOMOGRAD_VERSION
               ": patient-level brain metastasis detection from non-contrast head CT.\n"
               "HU -> brain extraction -> brain window -> z-score -> 256² -> slice quality filter; a 2D CNN\n"
               "scores every kept slice and the patient's logit is the MAX over its slices (the loss is\n"
               "computed once per patient). Curriculum unfreezing, class-conditional augmentation, a\n"
               "threshold chosen on validation. See docs/metastasis.md. Typical session:\n"
               "  tomograd synth metastasis --out data --patients 40 --scale 0.125\n"
               "  metastasis train --config configs/metastasis_resnet50.yaml --data data --out runs/m50\n"
               "  metastasis evaluate runs/m50\n"
               "  metastasis infer runs/m50 --input data/CTs --output predictions.csv",
               "metastasis"};
  tomograd::app::add_global_options(app, TOMOGRAD_VERSION);
  tomograd::app::setup_preprocess(app);
  tomograd::app::setup_train(app);
  tomograd::app::setup_infer(app);
  tomograd::app::setup_evaluate(app);
  return tomograd::app::run_app(app, argc, argv);
}
