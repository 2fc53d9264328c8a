// bmd predict RUN --input X --out F: BMD predictions for new studies.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

struct PredictOptions {
  RunArgs run;
  std::string input, out;
  bool force = false;
};

void run_predict(const PredictOptions& o) {
  // Sharded over the ranks of a data-parallel job; rank 0 writes and prints.
  tasks::bmd::predict_to_file(o.run.run, o.input, o.out, o.run.checkpoint, o.force, o.run.device);
  if (train::is_main_process()) std::cout << "wrote " << o.out << "\n";
}

}  // namespace

void setup_predict(CLI::App& app) {
  auto o = std::make_shared<PredictOptions>();
  auto* cmd = app.add_subcommand(
      "predict",
      "Predict BMD for new studies: a manifest CSV (patient_id,path), a folder with one subfolder per\n"
      "patient, or one series. Output: patient_id,bmd_pred (+ the target when the manifest has it).\n"
      "Example: bmd predict runs/r18 --input new_patients/ --out predictions.csv");
  add_run_options(cmd, o->run);
  cmd->add_option("--input", o->input, "manifest .csv, folder of patient folders, or one series")->required();
  cmd->add_option("--out", o->out, "output CSV")->required();
  cmd->add_flag("--force", o->force, "replace an existing output file");
  cmd->callback([o] { run_predict(*o); });
}

}  // namespace tomograd::app
