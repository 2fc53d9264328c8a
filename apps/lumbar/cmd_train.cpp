// lumbar train: the level localizer and the 25 x 3 classifier of each cross-validation fold.
#include <iostream>
#include <memory>
#include <vector>

#include "commands.hpp"
#include "tomograd/tasks/lumbar/config.hpp"
#include "tomograd/tasks/lumbar/training.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

namespace lumbar = tomograd::tasks::lumbar;

struct TrainOptions {
  std::string config, data, out, localizer, device;
  std::vector<std::string> set;
  std::vector<int> folds;
  bool force = false;
};

void run_train(const TrainOptions& o) {
  std::vector<std::string> overrides = o.set;
  if (!o.data.empty()) overrides.push_back("data.dir=" + o.data);
  const auto config = lumbar::load_config(o.config, overrides);
  tasks::TrainRequest request;
  request.out = o.out;
  request.force = o.force;
  request.device = o.device;
  const double score = lumbar::train(config, request, o.folds, o.localizer);
  if (!train::is_main_process()) return;  // rank 0 of a data-parallel job prints
  std::cout << "mean out-of-fold score " << score << " (lower is better); run: " << o.out
            << "\nnext: lumbar evaluate " << o.out << "\n";
}

}  // namespace

void setup_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train a run: the level localizer (once per run, RUN/localizer/, with its error in mm on fold 0),\n"
      "then the 25 x 3 classifier of each cross-validation fold (RUN/fold_<K>/, out-of-fold predictions\n"
      "in oof.csv). The config's input.kind picks sagittal, axial, combined (2.5D crops around the\n"
      "levels) or volume (3D with metadata). A run can be filled fold by fold (--fold) with the same\n"
      "config. Example: lumbar train --config configs/lumbar_sagittal.yaml --data data --out runs/sag");
  cmd->add_option("--config", o->config, "run configuration (configs/lumbar_{sagittal,axial,combined,3d}.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", o->data, "dataset folder (train.csv, train_series_descriptions.csv, "
                                     "train_label_coordinates.csv, train_images/)");
  cmd->add_option("--out", o->out, "run directory")->required();
  cmd->add_option("--fold", o->folds, "train only this fold (repeatable; default: every fold)");
  cmd->add_option("--set", o->set, "override a config key, repeatable: --set train.epochs=5");
  add_device_option(cmd, o->device, "auto|cpu|cuda|cuda:N: where to train (default: the config's train.device; "
                                    "auto = CUDA when present)");
  cmd->add_option("--localizer", o->localizer,
                  "reuse the localizer and folds.csv of another run on the same data instead of training one")
      ->check(CLI::ExistingDirectory);
  cmd->add_flag("--force", o->force, "retrain folds (and the localizer) that exist");
  cmd->callback([o] { run_train(*o); });
}

}  // namespace tomograd::app
