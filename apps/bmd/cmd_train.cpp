// bmd train --config C --manifest M --out RUN: trains the CNN into a run directory.
#include "../common/train_options.hpp"
#include "commands.hpp"

namespace tomograd::app {

void setup_train(CLI::App& app) {
  add_train_command<ConfigArgs>(
      app,
      "Train a CNN on the manifest's patients (split 80/10/10 by patient, stratified by BMD, unless the\n"
      "manifest has a split column). Every manifest problem is reported before training starts.\n"
      "Writes RUN/config.yaml, splits.csv, target_scaler.json, history.csv, train.log, checkpoints/.\n"
      "Data-parallel: launch one process per device with torchrun or srun (docs/distributed.md).\n"
      "Example: bmd train --config configs/bmd_resnet18.yaml --manifest cohort/manifest.csv --out runs/r18 \\\n"
      "           --set train.epochs=20 --set optim.lr=3e-4",
      &tasks::bmd::train_model);
}

}  // namespace tomograd::app
