#pragma once
// What every tomograd command-line app shares, without LibTorch (the light `tomograd` front end
// uses it alone; app_main.hpp adds LibTorch's errors and data-parallel failure reporting): the
// global logging options and how a parse or a failure becomes an exit code (0 ok, 1 failure
// with a logged message, 2 usage error).
#include <CLI/CLI.hpp>

#include <exception>
#include <functional>
#include <memory>
#include <new>
#include <optional>
#include <string>

#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"

namespace tomograd::app {

/// The global options that take a value; front_end.hpp skips their values when it looks for
/// the subcommand, so an option added here with a value belongs in this list too.
inline constexpr const char* kLogLevelOption = "--log-level";
inline constexpr const char* kLogFileOption = "--log-file";
inline bool global_option_takes_value(const std::string& arg) { return arg == kLogLevelOption || arg == kLogFileOption; }

/// Adds --log-level, -q/--quiet and --log-file to @p app; logging is set up once parsing is
/// complete. Global options may follow the subcommand.
inline void add_global_options(CLI::App& app, const std::string& version) {
  app.require_subcommand(1);
  app.fallthrough();
  app.set_version_flag("--version", version);
  auto log = std::make_shared<LogOptions>();
  app.add_option(kLogLevelOption, log->level, "trace|debug|info|warn|error|off (default: info)")->capture_default_str();
  app.add_flag("-q,--quiet", log->quiet, "only warnings and errors; no progress bars");
  app.add_option(kLogFileOption, log->file, "also write a debug log to this file");
  app.parse_complete_callback([log] {
    setup_logging(*log);
    if (log->quiet) set_progress_enabled(false);
  });
}

/// What @p app was doing: its name and the chain of subcommands parsed ("bmd train").
inline std::string activity(const CLI::App& app) {
  std::string what = app.get_name();
  for (const CLI::App* cmd = &app; !cmd->get_subcommands().empty();) {
    cmd = cmd->get_subcommands().front();
    what += " " + cmd->get_name();
  }
  return what;
}

/// @p message without a LibTorch C++ stack trace ("Exception raised from ... frame #0 ...") and
/// with its lines joined, so that a failure is one line.
inline std::string one_line(std::string message) {
  const auto trace = message.find("Exception raised from ");
  if (trace != std::string::npos) message.erase(trace);
  std::string line;
  size_t start = 0;
  while (start <= message.size()) {
    size_t end = message.find('\n', start);
    if (end == std::string::npos) end = message.size();
    std::string part = message.substr(start, end - start);
    while (!part.empty() && (part.back() == ' ' || part.back() == '\r')) part.pop_back();
    if (!part.empty()) line += (line.empty() ? "" : "; ") + part;
    start = end + 1;
  }
  return line;
}

/// How an app built on this header learns of a failure beyond the base cases: @p translate is
/// called inside a catch of an exception that is not a tomograd::Error and returns its one-line
/// message when it knows the type (LibTorch's c10::Error in app_main.hpp); @p notify is told the
/// final error line (the peers of a data-parallel job).
struct FailureHooks {
  std::function<std::optional<std::string>()> translate;
  std::function<void(const std::string&)> notify;
};

namespace detail {

/// Logs "<activity>: <message>" as the one error line and passes it to @p hooks.notify.
inline int fail(const CLI::App& app, const std::string& message, const FailureHooks& hooks) {
  const std::string doing = activity(app), what = one_line(message);
  const std::string line = what.rfind(doing + ":", 0) == 0 ? what : doing + ": " + what;
  logger()->error("{}", line);
  if (hooks.notify) hooks.notify(line);
  return 1;
}

}  // namespace detail

/// Parses and runs @p app: help and version exit 0, usage errors 2, failures 1 with one error
/// line that names the command that failed (never a crash, never a stack trace).
inline int run_app_with(CLI::App& app, int argc, char** argv, const FailureHooks& hooks) {
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
    return detail::fail(app, e.what(), hooks);
  } catch (const std::bad_alloc&) {
    return detail::fail(app, "out of memory (std::bad_alloc): the input or the batch is too large for this machine",
                        hooks);
  } catch (...) {
    if (hooks.translate) {
      if (auto message = hooks.translate()) return detail::fail(app, *message, hooks);
    }
    try {
      throw;
    } catch (const std::exception& e) {
      return detail::fail(app, std::string("unexpected failure: ") + e.what(), hooks);
    } catch (...) {
      return detail::fail(app, "unexpected failure of an unknown kind", hooks);
    }
  }
  return 0;
}

}  // namespace tomograd::app
