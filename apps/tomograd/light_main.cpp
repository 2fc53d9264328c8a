// The `tomograd` program users run. LibTorch takes about half a second to load (its ~280 shared
// libraries and the static registration of every operator), which a command that trains nothing
// should not pay. This front end links no LibTorch: it runs the commands that need none itself
// (`metrics`, `ml`, `--version`) and hands every other command line, unchanged, to the full
// program (`tomograd-torch`, main.cpp) with execv, so exit codes, signals and output are that
// program's own. docs/architecture.md, "Start-up".
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "../common/app_cli.hpp"
#include "commands.hpp"
#include "tomograd/core/build_info.hpp"

namespace fs = std::filesystem;

namespace {

/// The first command-line word that is not a global option or its value: the subcommand.
std::string subcommand_of(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--log-level" || arg == "--log-file") {
      ++i;
      continue;
    }
    if (!arg.empty() && arg[0] == '-') continue;
    return arg;
  }
  return {};
}

/// tomograd-torch next to this program (the build tree) or in its libexec folder (installed).
std::vector<fs::path> full_program_candidates() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const fs::path dir = ec ? fs::path(".") : self.parent_path();
  return {dir / "tomograd-torch", dir / TOMOGRAD_LIBEXEC_FROM_BIN / "tomograd-torch"};
}

int run_full_program(char** argv) {
  const auto candidates = full_program_candidates();
  for (const auto& path : candidates) {
    if (::access(path.c_str(), X_OK) != 0) continue;
    ::execv(path.c_str(), argv);  // returns only on failure
    std::cerr << "tomograd: cannot start " << path.string() << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  std::cerr << "tomograd: cannot find tomograd-torch, the part of tomograd that links LibTorch (looked for "
            << candidates[0].string() << " and " << candidates[1].lexically_normal().string()
            << "); reinstall tomograd\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string command = subcommand_of(argc, argv);
  if (command != "metrics" && command != "ml") {
    if (!(argc == 2 && std::string(argv[1]) == "--version")) return run_full_program(argv);
  }
  CLI::App app{"tomograd " TOMOGRAD_VERSION ": metrics and classical models without LibTorch "
               "(`tomograd --help` lists every command)", "tomograd"};
  tomograd::app::add_global_options(app, TOMOGRAD_VERSION);
  tomograd::app::setup_metrics(app);
  tomograd::app::setup_ml(app);
  return tomograd::app::run_app_with(app, argc, argv, {});
}
