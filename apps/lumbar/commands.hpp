#pragma once
// The lumbar app's subcommands: each is an options struct, a setup_<cmd>() that adds it to the
// CLI and a run_<cmd>() that makes one library call (tomograd::tasks::lumbar) and prints the result.
#include <CLI/CLI.hpp>

#include "../common/device_option.hpp"

namespace tomograd::app {

void setup_score(CLI::App& app);
void setup_check(CLI::App& app);
void setup_export_png(CLI::App& app);
void setup_train(CLI::App& app);
void setup_infer(CLI::App& app);
void setup_evaluate(CLI::App& app);

}  // namespace tomograd::app
