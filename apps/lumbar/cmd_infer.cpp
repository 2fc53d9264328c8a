// lumbar infer: a trained run applied to a dataset folder without labels, as a submission.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/tasks/lumbar/inference.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

namespace lumbar = tomograd::tasks::lumbar;

struct InferOptions {
  std::string run, data, split = "test", out, coordinates, device, dicom_out;
  bool force = false;
};

void run_infer(const InferOptions& o) {
  // Sharded over the ranks of a data-parallel job; rank 0 writes the CSV files and prints.
  const auto n = lumbar::infer(o.run, o.data, o.split, o.out, o.coordinates, o.force, o.device, o.dicom_out);
  if (!train::is_main_process()) return;
  std::cout << "wrote " << n * 25 << " rows (" << n << " studies) to " << o.out << "\n";
  if (!o.dicom_out.empty()) std::cout << "DICOM results (Secondary Capture, one series per study) in " << o.dicom_out << "\n";
}

}  // namespace

void setup_infer(CLI::App& app) {
  auto o = std::make_shared<InferOptions>();
  auto* cmd = app.add_subcommand(
      "infer",
      "Predict every study of a dataset folder without label coordinates: the run's localizer places\n"
      "the 25 label points, every trained fold's classifier is applied and their probabilities\n"
      "averaged. Writes row_id,normal_mild,moderate,severe with row_id = <study_id>_<condition>_<level>\n"
      "(25 rows per study, each summing to 1).\n"
      "Example: lumbar infer runs/sag --data rsna-2024 --out submission.csv --device cpu\n"
      "DICOM results for a PACS viewer (the graded crops of each study as a new series of that study):\n"
      "  lumbar infer runs/sag --data rsna-2024 --out submission.csv --dicom-out results/");
  cmd->add_option("RUN", o->run, "run directory (lumbar train --out)")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--data", o->data, "dataset folder with <split>_series_descriptions.csv and <split>_images/")
      ->required();
  cmd->add_option("--split", o->split, "test|train: the file name prefix (default: test)")->capture_default_str();
  cmd->add_option("--out", o->out, "submission CSV")->required();
  cmd->add_option("--coordinates", o->coordinates,
                  "also write the predicted points (train_label_coordinates.csv columns)");
  add_device_option(cmd, o->device, "auto|cpu|cuda|cuda:N: where to run the models, whatever the run was trained on "
                                    "(default: the run's train.device)");
  cmd->add_option("--dicom-out", o->dicom_out,
                  "also write DIR/<study_id>/SC0001.dcm...: every crop the study was graded on (its centre slice)\n"
                  "with the predicted grades burned in, as a new Secondary Capture series of the source study;\n"
                  "only PatientID and StudyInstanceUID are copied; 2.5D input kinds (default: none)");
  cmd->add_flag("--force", o->force, "replace existing output files (and write into a non-empty --dicom-out folder)");
  cmd->callback([o] { run_infer(*o); });
}

}  // namespace tomograd::app
