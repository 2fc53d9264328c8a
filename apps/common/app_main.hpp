#pragma once
// What every tomograd command-line app shares: the global logging options and how a parse or a
// failure becomes an exit code (0 ok, 1 failure with a logged message, 2 usage error).
#include <CLI/CLI.hpp>

#include <exception>
#include <memory>

#include "tomograd/train/distributed.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"

namespace tomograd::app {

/// Adds --log-level, -q/--quiet and --log-file to @p app; logging is set up once parsing is
/// complete. Global options may follow the subcommand.
inline void add_global_options(CLI::App& app, const std::string& version) {
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", version);
  auto log = std::make_shared<LogOptions>();
  app.add_option("--log-level", log->level, "trace|debug|info|warn|error|off (default: info)")->capture_default_str();
  app.add_flag("-q,--quiet", log->quiet, "only warnings and errors; no progress bars");
  app.add_option("--log-file", log->file, "also write a debug log to this file");
  app.parse_complete_callback([log] {
    setup_logging(*log);
    if (log->quiet) set_progress_enabled(false);
  });
}

/// Parses and runs @p app: help and version exit 0, usage errors 2, tomograd errors 1 with the
/// message logged (never a crash).
inline int run_app(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const Error& e) {
    logger()->error("{}", e.what());
    // In a data-parallel job the other ranks learn which rank failed, and why.
    if (auto* comm = train::current_communicator()) comm->report_failure(e.what());
    return 1;
  } catch (const std::exception& e) {
    logger()->error("unexpected failure: {}", e.what());
    if (auto* comm = train::current_communicator()) comm->report_failure(e.what());
    return 1;
  }
  return 0;
}

}  // namespace tomograd::app
