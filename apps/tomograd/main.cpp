// tomograd: DICOM/NIfTI inspection and conversion, and an environment check.
#include <CLI/CLI.hpp>

#include "../common/app_main.hpp"

#include <iostream>

#include "commands.hpp"
#include "tomograd/core/build_info.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"

int main(int argc, char** argv) {
  CLI::App app{"tomograd " TOMOGRAD_VERSION
               ": deep learning on CT and MRI from the command line.\n"
               "Inspect, convert and export DICOM and NIfTI data; check the installation.\n"
               "Examples:\n"
               "  tomograd info scans/patient01 --json\n"
               "  tomograd convert scans/patient01 out/patient01.nii.gz --series 0\n"
               "  tomograd doctor",
               "tomograd"};
  tomograd::app::add_global_options(app, TOMOGRAD_VERSION);
  tomograd::app::setup_info(app);
  tomograd::app::setup_convert(app);
  tomograd::app::setup_export_png(app);
  tomograd::app::setup_doctor(app);
  tomograd::app::setup_brain_extract(app);
  tomograd::app::setup_preprocess(app);
  tomograd::app::setup_preview(app);
  tomograd::app::setup_synth(app);
  tomograd::app::setup_bench(app);
  tomograd::app::setup_metrics(app);
  tomograd::app::setup_ml(app);
  tomograd::app::setup_weights(app);
  tomograd::app::setup_export(app);
  return tomograd::app::run_app(app, argc, argv);
}
