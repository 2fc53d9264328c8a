// bmd compare RUN: the CNN and the classical models side by side on the test patients.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

struct CompareOptions {
  std::string run;
  int bootstrap = 1000;
  std::string device = "auto";
};

void run_compare(const CompareOptions& o) {
  // In a data-parallel job a missing CNN evaluation is sharded; rank 0 writes and prints.
  const std::string table = tasks::bmd::compare_run(o.run, o.bootstrap, o.device);
  if (train::is_main_process()) std::cout << table;
}

}  // namespace

void setup_compare(CLI::App& app) {
  auto o = std::make_shared<CompareOptions>();
  auto* cmd = app.add_subcommand(
      "compare",
      "One table on the test patients: the CNN and every fitted classical model, R², MAE, RMSE,\n"
      "Pearson and MAPE with 95 % bootstrap intervals. Writes RUN/compare.{md,json,html}.\n"
      "Example: bmd compare runs/r18");
  cmd->add_option("RUN", o->run, "run directory")->required();
  cmd->add_option("--bootstrap", o->bootstrap, "patient resamples for the intervals (default: 1000)")
      ->capture_default_str();
  add_device_option(cmd, o->device,
                    "where the CNN runs when RUN/eval/test is missing: auto|cpu|cuda|cuda:N (default: auto)")
      ->capture_default_str();
  cmd->callback([o] { run_compare(*o); });
}

}  // namespace tomograd::app
