#pragma once
// The bmd app's subcommands: each is an options struct, a setup_<cmd>() that adds it to the CLI
// and a run_<cmd>() that makes one library call (tomograd::tasks::bmd) and prints the result.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "../common/device_option.hpp"
#include "tomograd/tasks/bmd/pipeline.hpp"

namespace tomograd::app {

void setup_train(CLI::App& app);
void setup_evaluate(CLI::App& app);
void setup_predict(CLI::App& app);
void setup_extract_features(CLI::App& app);
void setup_fit_ml(CLI::App& app);
void setup_compare(CLI::App& app);
void setup_cv(CLI::App& app);
void setup_runs(CLI::App& app);

/// --config, --manifest and --set of the commands that read a run configuration.
struct ConfigArgs {
  std::string config;
  std::string manifest;
  std::vector<std::string> set;
};

inline void add_config_options(CLI::App* cmd, ConfigArgs& a) {
  cmd->add_option("--config", a.config, "run configuration YAML (configs/bmd_resnet18.yaml, configs/bmd_simplecnn.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--manifest", a.manifest,
                  "manifest CSV patient_id,path,bmd[,split] (shorthand for --set data.manifest=FILE)");
  cmd->add_option("--set", a.set, "override a config key, repeatable: --set optim.lr=3e-4 --set train.epochs=5");
}

inline tasks::bmd::BmdConfig load(const ConfigArgs& a) {
  std::vector<std::string> overrides = a.set;
  if (!a.manifest.empty()) overrides.push_back("data.manifest=" + a.manifest);
  return tasks::bmd::load_config(a.config, overrides);
}

/// RUN, --checkpoint and --device of the commands that run a trained model.
struct RunArgs {
  std::string run;
  std::string checkpoint = "best";
  std::string device = "auto";
};

inline void add_run_options(CLI::App* cmd, RunArgs& a, const std::string& run_help = "run directory written by bmd train") {
  cmd->add_option("RUN", a.run, run_help)->required();
  cmd->add_option("--checkpoint", a.checkpoint, "best|last|final|best_val_r2 or a .pt path (default: best)")
      ->capture_default_str();
  add_device_option(cmd, a.device,
                    "where the model runs: auto|cpu|cuda|cuda:N, whatever device it was trained on (default: auto)")
      ->capture_default_str();
}

}  // namespace tomograd::app
