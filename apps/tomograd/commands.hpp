#pragma once
// The tomograd app's subcommands: each adds itself to the CLI and runs one library call.
#include <CLI/CLI.hpp>

namespace tomograd::app {

void setup_info(CLI::App& app);
void setup_convert(CLI::App& app);
void setup_export_png(CLI::App& app);
void setup_doctor(CLI::App& app);
void setup_brain_extract(CLI::App& app);
void setup_preprocess(CLI::App& app);
void setup_preview(CLI::App& app);
void setup_synth(CLI::App& app);
void setup_bench(CLI::App& app);
void setup_metrics(CLI::App& app);
void setup_ml(CLI::App& app);
void setup_weights(CLI::App& app);
void setup_export(CLI::App& app);

}  // namespace tomograd::app
