#pragma once
// The metastasis app's subcommands: each is an options struct, a setup_<cmd>() that adds it to
// the CLI and a run_<cmd>() that makes one library call (tomograd::tasks::metastasis).
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "../common/device_option.hpp"
#include "tomograd/tasks/metastasis/pipeline.hpp"

namespace tomograd::app {

void setup_preprocess(CLI::App& app);
void setup_train(CLI::App& app);
void setup_infer(CLI::App& app);
void setup_evaluate(CLI::App& app);

/// --config, --data, --set and --skip-bad of the commands that read a run configuration.
struct ConfigArgs {
  std::string config, data;
  std::vector<std::string> set;
  bool skip_bad = false;
};

inline void add_config_options(CLI::App* cmd, ConfigArgs& a) {
  cmd->add_option("--config", a.config, "run configuration YAML (configs/metastasis_resnet50.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", a.data, "data folder with CTs/<patient_id>/ and labels.csv (patient_id,label)");
  cmd->add_option("--set", a.set, "override a config key, repeatable: --set train.epochs=5");
  cmd->add_flag("--skip-bad", a.skip_bad, "leave out (and list) patients with bad input instead of stopping");
}

inline tasks::metastasis::MetastasisConfig load(const ConfigArgs& a) {
  std::vector<std::string> overrides = a.set;
  if (!a.data.empty()) overrides.push_back("data.dir=" + a.data);
  if (a.skip_bad) overrides.emplace_back("data.skip_bad=true");
  return tasks::metastasis::load_config(a.config, overrides);
}

}  // namespace tomograd::app
