#include "tomograd/core/log.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

#include "tomograd/core/error.hpp"

namespace tomograd {

namespace {
std::mutex g_mutex;
std::shared_ptr<spdlog::sinks::sink> g_console;

std::shared_ptr<spdlog::logger> make_logger() {
  g_console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  g_console->set_pattern("%^[%l]%$ %v");
  auto log = std::make_shared<spdlog::logger>("tomograd", g_console);
  log->set_level(spdlog::level::info);
  log->flush_on(spdlog::level::warn);
  spdlog::register_logger(log);
  return log;
}
}  // namespace

std::shared_ptr<spdlog::logger> logger() {
  std::lock_guard<std::mutex> lock(g_mutex);
  static std::shared_ptr<spdlog::logger> log = make_logger();
  return log;
}

void setup_logging(const LogOptions& options) {
  auto log = logger();
  auto level = spdlog::level::from_str(options.level);
  // from_str maps unknown names to "off"; only accept "off" when asked for.
  if (level == spdlog::level::off && options.level != "off") {
    throw ValueError("unknown log level '" + options.level +
                     "' (expected trace, debug, info, warn, error or off)");
  }
  if (options.quiet && level < spdlog::level::warn) level = spdlog::level::warn;
  g_console->set_level(level);
  log->set_level(std::min(level, options.file.empty() ? level : spdlog::level::debug));
  if (!options.file.empty()) add_log_file(options.file);
}

void add_log_file(const std::filesystem::path& file) {
  auto log = logger();
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file.string(), false);
  sink->set_pattern("%Y-%m-%d %H:%M:%S.%e [%l] %v");
  sink->set_level(spdlog::level::debug);
  log->sinks().push_back(sink);
  if (log->level() > spdlog::level::debug) log->set_level(spdlog::level::debug);
  // The console keeps its own level; the logger level only gates what reaches any sink.
  if (g_console->level() == spdlog::level::trace) g_console->set_level(spdlog::level::info);
}

}  // namespace tomograd
