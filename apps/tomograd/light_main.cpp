// `tomograd` as users run it: the light front end (apps/common/front_end.hpp), no LibTorch. It
// runs `info`, `convert`, `export-png`, `metrics`, `ml` and `--version` itself (the same cmd_*.cpp
// files tomograd-torch compiles) and execs tomograd-torch (main.cpp) for the rest.
#include <CLI/CLI.hpp>

#include "../common/app_cli.hpp"
#include "../common/front_end.hpp"
#include "commands.hpp"
#include "tomograd/core/build_info.hpp"

int main(int argc, char** argv) {
  using namespace tomograd::app;
  if (!runs_here(argc, argv, {"info", "convert", "export-png", "metrics", "ml"})) {
    return exec_full_program(argv, "tomograd-torch", TOMOGRAD_LIBEXEC_FROM_BIN);
  }
  CLI::App app{"tomograd " TOMOGRAD_VERSION ": DICOM/NIfTI inspection and conversion, metrics and classical "
               "models without LibTorch (`tomograd --help` lists every command)", "tomograd"};
  add_global_options(app, TOMOGRAD_VERSION);
  setup_info(app);
  setup_convert(app);
  setup_export_png(app);
  setup_metrics(app);
  setup_ml(app);
  return run_app_with(app, argc, argv, {});
}
