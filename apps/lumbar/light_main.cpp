// `lumbar` as users run it: the light front end (apps/common/front_end.hpp), no LibTorch. It
// runs `score` (the competition metric on two CSV files) and `--version` itself and execs
// lumbar-torch (main.cpp) for the rest.
#include <CLI/CLI.hpp>

#include "../common/app_cli.hpp"
#include "../common/front_end.hpp"
#include "commands.hpp"
#include "tomograd/core/build_info.hpp"

int main(int argc, char** argv) {
  using namespace tomograd::app;
  if (!runs_here(argc, argv, {"score"})) return exec_full_program(argv, "lumbar-torch", TOMOGRAD_LIBEXEC_FROM_BIN);
  CLI::App app{"lumbar " TOMOGRAD_VERSION ": the RSNA 2024 lumbar score without LibTorch "
               "(`lumbar --help` lists every command)", "lumbar"};
  add_global_options(app, TOMOGRAD_VERSION);
  setup_score(app);
  return run_app_with(app, argc, argv, {});
}
