#pragma once
// The lumbar app's subcommands: each is an options struct, a setup_<cmd>() that adds it to the
// CLI and a run_<cmd>() that makes one library call (tomograd::tasks::lumbar) and prints the result.
#include <CLI/CLI.hpp>

#include <regex>
#include <string>

namespace tomograd::app {

void setup_score(CLI::App& app);
void setup_check(CLI::App& app);
void setup_export_png(CLI::App& app);
void setup_train(CLI::App& app);
void setup_infer(CLI::App& app);
void setup_evaluate(CLI::App& app);

/// The --device option of the commands that run a model: auto|cpu|cuda|cuda:N (whether the
/// device exists is checked when the model is placed on it).
inline CLI::Option* add_device_option(CLI::App* cmd, std::string& device, const std::string& help) {
  return cmd->add_option("--device", device, help)->check(CLI::Validator(
      [](std::string& v) {
        static const std::regex ok("auto|cpu|cuda(:[0-9]+)?");
        return std::regex_match(v, ok) ? std::string() : "expected auto, cpu, cuda or cuda:N, got '" + v + "'";
      },
      "auto|cpu|cuda|cuda:N"));
}

}  // namespace tomograd::app
