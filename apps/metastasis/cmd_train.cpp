// metastasis train --config C --data DIR --out RUN: trains the slice model with MAX pooling.
#include "../common/train_options.hpp"
#include "commands.hpp"

namespace tomograd::app {

void setup_train(CLI::App& app) {
  add_train_command<ConfigArgs>(
      app,
      "Train on DIR's patients, split by patient and stratified by label into train/val/test\n"
      "(data.val, data.test: 60/20/20 by default; --set data.test=0 gives the 80/20 train/val split).\n"
      "The threshold and the best checkpoint are chosen on validation; test patients are held out.\n"
      "Every bad input is listed before training. Checkpoints: best (val F1), best_val_specificity,\n"
      "end of each curriculum stage, last, final, with the validation threshold;\n"
      "checkpoints/summary.csv lists them.\n"
      "Example: metastasis train --config configs/metastasis_resnet50.yaml --data data --out runs/m50",
      &tasks::metastasis::train_model);
}

}  // namespace tomograd::app
