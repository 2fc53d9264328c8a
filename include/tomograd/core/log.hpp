#pragma once
/// @file Logging: the library logs through one spdlog logger named "tomograd"; apps set sinks.
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <string>

namespace tomograd {

/// The library's logger (created on first use with a stderr sink at level info).
std::shared_ptr<spdlog::logger> logger();

/// Logging set-up done once by an app's main.
struct LogOptions {
  std::string level = "info";          ///< trace|debug|info|warn|error|off
  bool quiet = false;                  ///< only warnings and errors on the console
  std::filesystem::path file;          ///< also log (at debug level) to this file when not empty
};

/// Applies @p options to logger(). Throws ValueError for an unknown level name.
void setup_logging(const LogOptions& options);

/// Adds a file sink (for example a run directory's train.log); returns nothing, never throws
/// for an existing file (it appends).
void add_log_file(const std::filesystem::path& file);

}  // namespace tomograd
