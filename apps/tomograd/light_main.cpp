// `tomograd` as users run it: the light front end (apps/common/front_end.hpp), no LibTorch. It
// runs the commands of kOwnCommands below (`info`, `convert`, `export-png`, `metrics`, `ml`) and
// `--version` itself (the same cmd_*.cpp files tomograd-torch compiles) and execs tomograd-torch
// (main.cpp) for the rest.
#include <CLI/CLI.hpp>

#include <set>
#include <string>

#include "../common/app_cli.hpp"
#include "../common/front_end.hpp"
#include "commands.hpp"
#include "tomograd/core/build_info.hpp"

namespace {

/// The commands this front end runs itself, in `--help` order: each named once, with its setup.
struct OwnCommand {
  const char* name;
  void (*setup)(CLI::App&);
};
constexpr OwnCommand kOwnCommands[] = {{"info", tomograd::app::setup_info},
                                       {"convert", tomograd::app::setup_convert},
                                       {"export-png", tomograd::app::setup_export_png},
                                       {"metrics", tomograd::app::setup_metrics},
                                       {"ml", tomograd::app::setup_ml}};

}  // namespace

int main(int argc, char** argv) {
  using namespace tomograd::app;
  std::set<std::string> own;
  for (const OwnCommand& c : kOwnCommands) own.insert(c.name);
  if (!runs_here(argc, argv, own)) return exec_full_program(argv, "tomograd-torch", TOMOGRAD_LIBEXEC_FROM_BIN);
  CLI::App app{"tomograd " TOMOGRAD_VERSION ": DICOM/NIfTI inspection and conversion, metrics and classical "
               "models without LibTorch (`tomograd --help` lists every command)", "tomograd"};
  add_global_options(app, TOMOGRAD_VERSION);
  for (const OwnCommand& c : kOwnCommands) c.setup(app);
  return run_app_with(app, argc, argv, {});
}
