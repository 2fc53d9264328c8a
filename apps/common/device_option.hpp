#pragma once
// The --device option of every command that runs a model (DESIGN.md, "Device and scale").
#include <CLI/CLI.hpp>

#include <regex>
#include <string>

namespace tomograd::app {

/// Adds --device auto|cpu|cuda|cuda:N to @p cmd (whether the device exists is checked when the
/// model is placed on it). A checkpoint written on any device loads on the one chosen.
inline CLI::Option* add_device_option(CLI::App* cmd, std::string& device, const std::string& help) {
  return cmd->add_option("--device", device, help)->check(CLI::Validator(
      [](std::string& v) {
        static const std::regex ok("auto|cpu|cuda(:[0-9]+)?");
        return std::regex_match(v, ok) ? std::string() : "expected auto, cpu, cuda or cuda:N, got '" + v + "'";
      },
      "auto|cpu|cuda|cuda:N"));
}

}  // namespace tomograd::app
