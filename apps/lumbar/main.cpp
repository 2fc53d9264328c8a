// lumbar: RSNA 2024 lumbar spine degenerative classification: training (localizer + sagittal,
// axial, combined or 3D classifiers by fold), inference to a submission, evaluation, the
// competition score, dataset checks and (annotated) PNG export. Each subcommand is a cmd_*.cpp;
// the work is in tomograd::tasks::lumbar.
#include <CLI/CLI.hpp>

#include "../common/app_main.hpp"
#include "commands.hpp"
#include "tomograd/core/build_info.hpp"

int main(int argc, char** argv) {
  CLI::App app{"lumbar " TOMOGRAD_VERSION
               ": RSNA 2024 lumbar spine degenerative classification (5 conditions x 5 levels x 3 grades).\n"
               "Examples:\n"
               "  tomograd synth lumbar --out data --studies 40 --test-studies 8 --scale 0.125\n"
               "  lumbar train --config configs/lumbar_sagittal.yaml --data data --out runs/sag\n"
               "  lumbar infer runs/sag --data data --out submission.csv\n"
               "  lumbar score --solution data/test_solution.csv --submission submission.csv\n"
               "  lumbar evaluate runs/sag runs/axial runs/combined runs/3d --out comparison",
               "lumbar"};
  tomograd::app::add_global_options(app, TOMOGRAD_VERSION);
  tomograd::app::setup_score(app);
  tomograd::app::setup_check(app);
  tomograd::app::setup_export_png(app);
  tomograd::app::setup_train(app);
  tomograd::app::setup_infer(app);
  tomograd::app::setup_evaluate(app);
  return tomograd::app::run_app(app, argc, argv);
}
