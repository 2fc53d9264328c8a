#pragma once
// The options every task's `train` command shares (--out, --resume, --force, --device) and the
// line it prints when done.
#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <string>

#include "device_option.hpp"
#include "tomograd/tasks/common/train_request.hpp"
#include "tomograd/train/distributed.hpp"
#include "tomograd/train/trainer.hpp"

namespace tomograd::app {

/// Adds --out (required), --resume, --force and --device to @p cmd, into @p request.
inline void add_train_request_options(CLI::App* cmd, tasks::TrainRequest& request) {
  cmd->add_option("--out", request.out, "run directory (must not exist or be empty)")->required();
  cmd->add_flag("--resume", request.resume, "continue the run in --out from checkpoints/last.pt");
  cmd->add_flag("--force", request.force, "train into a non-empty run directory (replaces its checkpoints)");
  add_device_option(cmd, request.device,
                    "auto|cpu|cuda|cuda:N (default: the config's train.device); a resumed run may change it");
}

/// "trained N epochs; best epoch E (<monitor> V); run: RUN" on stdout (rank 0 of a data-parallel job).
inline void print_train_summary(const train::TrainSummary& s, const std::string& monitor,
                                const tasks::TrainRequest& request) {
  if (!train::is_main_process()) return;
  std::cout << "trained " << s.epochs_run << " epochs; best epoch " << s.best_epoch + 1 << " (" << monitor << " "
            << s.best_value << "); run: " << request.out.string() << "\n";
}

/// Adds the `train` subcommand of a slice task (bmd, metastasis): the app's config options and
/// the train request options; on run, loads the config, trains with @p train_model and prints the
/// summary. add_config_options(cmd, ConfigArgs&) and load(const ConfigArgs&) are the app's own
/// (found by argument-dependent lookup: ConfigArgs lives in tomograd::app).
template <class ConfigArgs, class Config>
void add_train_command(CLI::App& app, const std::string& help,
                       train::TrainSummary (*train_model)(const Config&, const tasks::TrainRequest&)) {
  struct Options {
    ConfigArgs config;
    tasks::TrainRequest request;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("train", help);
  add_config_options(cmd, o->config);
  add_train_request_options(cmd, o->request);
  cmd->callback([o, train_model] {
    const Config config = load(o->config);
    print_train_summary(train_model(config, o->request), config.train.monitor, o->request);
  });
}

}  // namespace tomograd::app
