// bmd evaluate RUN: patient-level metrics with bootstrap intervals into RUN/eval/<split>/.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

struct EvaluateOptions {
  RunArgs run;
  std::string split = "test";
  bool force = false;
};

void run_evaluate(const EvaluateOptions& o) {
  // Sharded over the ranks of a data-parallel job; rank 0 writes and prints.
  const auto dir = tasks::bmd::evaluate_run(o.run.run, o.split, o.run.checkpoint, o.force, o.run.device);
  if (!train::is_main_process()) return;
  std::cout << "wrote " << (dir / "report.html").string() << "\n";
  std::cout << read_file(dir / "summary.md");
}

}  // namespace

void setup_evaluate(CLI::App& app) {
  auto o = std::make_shared<EvaluateOptions>();
  auto* cmd = app.add_subcommand(
      "evaluate",
      "Patient-level metrics (R², MAE, RMSE, Pearson, MAPE, ...) with 95 % bootstrap intervals over\n"
      "patients, predictions.csv, summary.md and report.html in RUN/eval/<split>/.\n"
      "Example: bmd evaluate runs/r18 --split test --device cpu");
  add_run_options(cmd, o->run);
  cmd->add_option("--split", o->split, "train|val|test|all (default: test)")->capture_default_str();
  cmd->add_flag("--force", o->force, "replace an earlier evaluation of this split");
  cmd->callback([o] { run_evaluate(*o); });
}

}  // namespace tomograd::app
