#pragma once
// The light front end of an app (`tomograd`, `lumbar`): LibTorch takes about half a second to
// load, which a command that trains nothing should not pay. The program users run links no
// LibTorch; it runs its own few commands and hands every other command line, unchanged, to
// `<app>-torch` with execv, so exit codes, signals and output are that program's own.
// docs/architecture.md, "Start-up".
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "app_cli.hpp"

namespace tomograd::app {

/// The first command-line word that is not a global option or its value: the subcommand.
inline std::string subcommand_of(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (global_option_takes_value(arg)) {
      ++i;
      continue;
    }
    if (!arg.empty() && arg[0] == '-') continue;
    return arg;
  }
  return {};
}

/// True when this front end runs the command line itself: one of @p own commands, or a bare
/// `--version`.
inline bool runs_here(int argc, char** argv, const std::set<std::string>& own) {
  if (argc == 2 && std::string(argv[1]) == "--version") return true;
  return own.count(subcommand_of(argc, argv)) > 0;
}

/// Replaces this process with @p full_name (e.g. "tomograd-torch"), found next to this program
/// (the build tree) or in @p libexec_from_bin relative to its folder (installed); returns 1 with
/// one error line when it cannot.
inline int exec_full_program(char** argv, const std::string& full_name, const std::string& libexec_from_bin) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  const fs::path dir = ec ? fs::path(".") : self.parent_path();
  const std::vector<fs::path> candidates = {dir / full_name, (dir / libexec_from_bin / full_name).lexically_normal()};
  const std::string app = full_name.substr(0, full_name.rfind('-'));
  for (const auto& path : candidates) {
    if (::access(path.c_str(), X_OK) != 0) continue;
    ::execv(path.c_str(), argv);  // returns only on failure
    std::cerr << app << ": cannot start " << path.string() << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  std::cerr << app << ": cannot find " << full_name << ", the part of " << app << " that links LibTorch (looked for "
            << candidates[0].string() << " and " << candidates[1].string() << "); reinstall tomograd\n";
  return 1;
}

}  // namespace tomograd::app
