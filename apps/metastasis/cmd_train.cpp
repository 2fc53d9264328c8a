// metastasis train --config C --data DIR --out RUN: trains the slice model with MAX pooling.
#include <memory>

#include "../common/train_options.hpp"
#include "commands.hpp"

namespace tomograd::app {

namespace {

struct TrainOptions {
  ConfigArgs config;
  tasks::TrainRequest request;
};

void run_train(const TrainOptions& o) {
  const auto config = load(o.config);
  print_train_summary(tasks::metastasis::train_model(config, o.request), config.train.monitor, o.request);
}

}  // namespace

void setup_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train on DIR's patients, split by patient and stratified by label into train/val/test\n"
      "(data.val, data.test: 60/20/20 by default; --set data.test=0 gives the 80/20 train/val split).\n"
      "The threshold and the best checkpoint are chosen on validation; test patients are held out.\n"
      "Every bad input is listed before training. Checkpoints: best (val F1), best_val_specificity,\n"
      "end of each curriculum stage, last, final, with the validation threshold;\n"
      "checkpoints/summary.csv lists them.\n"
      "Example: metastasis train --config configs/metastasis_resnet50.yaml --data data --out runs/m50");
  add_config_options(cmd, o->config);
  add_train_request_options(cmd, o->request);
  cmd->callback([o] { run_train(*o); });
}

}  // namespace tomograd::app
