// metastasis evaluate RUN: patient vs slice level at the stored threshold, Grad-CAM of top slices.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

struct EvaluateOptions {
  std::string run, split, data, checkpoint = "best";
  bool force = false;
  std::string device = "auto";
};

void run_evaluate(const EvaluateOptions& o) {
  const auto dir = tasks::metastasis::evaluate_run(o.run, o.split, o.data, o.checkpoint, o.force, o.device);
  if (!train::is_main_process()) return;  // rank 0 of a data-parallel job wrote it
  std::cout << read_file(dir / "summary.md") << "\n" << read_file(dir / "slice_vs_patient.md");
  std::cout << "wrote " << (dir / "report.html").string() << "\n";
}

}  // namespace

void setup_evaluate(CLI::App& app) {
  auto o = std::make_shared<EvaluateOptions>();
  auto* cmd = app.add_subcommand(
      "evaluate",
      "Patient-level metrics with bootstrap intervals at the stored threshold, ROC/PR, confusion\n"
      "matrix, slice-level metrics side by side, and the top slices with Grad-CAM overlays, in\n"
      "RUN/eval/<split>/report.html. The report names the split, the number of patients, where the\n"
      "threshold came from and how the intervals were computed.\n"
      "Example: metastasis evaluate runs/m50 --data external_data/");
  cmd->add_option("RUN", o->run, "run directory")->required();
  cmd->add_option("--split", o->split,
                  "train|val|test|all of the run's patients (default: test, the held-out patients; val when "
                  "the run has no test split, and the report then says the threshold was tuned on them)");
  cmd->add_option("--data", o->data, "evaluate another data folder (CTs/ + labels.csv) instead");
  cmd->add_option("--checkpoint", o->checkpoint, "best|last|final|<stage>|best_val_specificity or a .pt path")
      ->capture_default_str();
  cmd->add_flag("--force", o->force, "replace an earlier evaluation");
  add_device_option(cmd, o->device,
                    "where the model runs: auto|cpu|cuda|cuda:N, whatever device it was trained on (default: auto)")
      ->capture_default_str();
  cmd->callback([o] { run_evaluate(*o); });
}

}  // namespace tomograd::app
