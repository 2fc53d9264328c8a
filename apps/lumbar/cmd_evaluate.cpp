// lumbar evaluate: out-of-fold evaluation of runs, and a comparison table of several.
#include <filesystem>
#include <iostream>
#include <memory>
#include <vector>

#include "commands.hpp"
#include "tomograd/tasks/lumbar/evaluate.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

namespace lumbar = tomograd::tasks::lumbar;

struct EvaluateOptions {
  std::vector<std::string> runs;
  std::string out;
  int bootstrap = 1000;
  bool force = false;
};

void run_evaluate(const EvaluateOptions& o) {
  std::vector<std::filesystem::path> runs(o.runs.begin(), o.runs.end());
  const std::filesystem::path out = o.out.empty() && runs.size() > 1 ? "comparison" : o.out;
  // No model runs here (the runs' out-of-fold predictions): in a data-parallel job rank 0 alone
  // evaluates and writes; the other ranks never join a process group and exit at once.
  train::run_on_main_process([&] {
    const auto dir = lumbar::evaluate_runs(runs, out, o.bootstrap, 42, o.force);
    std::cout << "evaluation written to " << dir.string() << "\n";
  });
}

}  // namespace

void setup_evaluate(CLI::App& app) {
  auto o = std::make_shared<EvaluateOptions>();
  auto* cmd = app.add_subcommand(
      "evaluate",
      "Out-of-fold evaluation of runs: the competition metric and its parts with bootstrap intervals\n"
      "over studies, per condition/level AUC, confusion matrices and a classification report in\n"
      "RUN/eval/; with several runs (e.g. sagittal, axial, combined, 3D) also one comparison table in\n"
      "--out. Example: lumbar evaluate runs/sag runs/axial runs/combined runs/3d --out comparison");
  cmd->add_option("RUN", o->runs, "run directories")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--out", o->out, "folder of the comparison (several runs; default: comparison/)");
  cmd->add_option("--bootstrap", o->bootstrap, "study resamples for 95 % intervals (0 = none)")->capture_default_str();
  cmd->add_flag("--force", o->force, "replace existing evaluation files");
  cmd->callback([o] { run_evaluate(*o); });
}

}  // namespace tomograd::app
