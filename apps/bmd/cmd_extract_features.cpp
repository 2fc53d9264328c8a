// bmd extract-features RUN: per-patient CNN embeddings for the classical models.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

struct ExtractFeaturesOptions {
  RunArgs run;
  bool force = false;
};

void run_extract_features(const ExtractFeaturesOptions& o) {
  // Sharded over the ranks of a data-parallel job; rank 0 writes and prints.
  const auto files = tasks::bmd::extract_features(o.run.run, o.run.checkpoint, o.force, o.run.device);
  for (const auto& f : files) {
    if (train::is_main_process()) std::cout << "wrote " << f.string() << "\n";
  }
}

}  // namespace

void setup_extract_features(CLI::App& app) {
  auto o = std::make_shared<ExtractFeaturesOptions>();
  auto* cmd = app.add_subcommand(
      "extract-features",
      "Per-patient CNN embeddings (penultimate layer, averaged over the selected slices) for every\n"
      "split: RUN/features/{train,val,test}.csv with columns patient_id,bmd,f0..f{E-1}.\n"
      "Example: bmd extract-features runs/r18");
  add_run_options(cmd, o->run);
  cmd->add_flag("--force", o->force, "replace existing feature files");
  cmd->callback([o] { run_extract_features(*o); });
}

}  // namespace tomograd::app
