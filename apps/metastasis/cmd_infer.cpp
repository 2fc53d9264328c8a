// metastasis infer RUN --input DIR: scores one patient folder or a folder of them.
#include <algorithm>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

namespace {

struct InferOptions {
  std::string run, input, output, slices;
  bool force = false, skip_bad = false;
  std::string device = "auto";
  tasks::metastasis::DicomOutOptions dicom;
};

void print_one(const tasks::metastasis::PatientScore& s) {
  auto slices = s.slice_probabilities;
  std::sort(slices.begin(), slices.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::cout << "patient " << s.patient_id << ": probability " << s.probability << ", "
            << (s.prediction ? "metastasis suspected" : "no metastasis detected") << "\ntop slices:";
  for (std::size_t k = 0; k < std::min<std::size_t>(5, slices.size()); ++k) {
    std::cout << " " << slices[k].first << " (" << slices[k].second << ")";
  }
  std::cout << "\n";
}

void run_infer(const InferOptions& o) {
  auto dicom = o.dicom;
  dicom.force = o.force;
  // Sharded over the ranks of a data-parallel job; rank 0 writes the CSV files and prints.
  const auto scores = tasks::metastasis::infer(o.run, o.input, o.output, o.force, o.skip_bad, o.slices, o.device, dicom);
  if (!train::is_main_process()) return;
  if (!dicom.dir.empty()) {
    std::cout << "DICOM results (Secondary Capture, one series per patient) in " << dicom.dir.string() << "\n";
  }
  if (scores.size() == 1 && o.output.empty()) {
    print_one(scores[0]);
    return;
  }
  for (const auto& s : scores) {
    std::cout << s.patient_id << "," << s.probability << "," << s.prediction << "," << s.top_slice << "\n";
  }
  if (!o.output.empty()) std::cout << "wrote " << o.output << "\n";
}

}  // namespace

void setup_infer(CLI::App& app) {
  auto o = std::make_shared<InferOptions>();
  auto* cmd = app.add_subcommand(
      "infer",
      "Score one patient folder (prints probability, decision and top slices) or a folder of patient\n"
      "folders (CSV patient_id,probability,prediction,top_slice). Any CT size and slice count; the\n"
      "run's preprocessing and validation threshold are used.\n"
      "Example: metastasis infer runs/m50 --input scans/ --output predictions.csv --device cpu\n"
      "DICOM results for a PACS viewer (one Secondary Capture series per patient in its source study):\n"
      "  metastasis infer runs/m50 --input scans/ --dicom-out results/ --dicom-top 4");
  cmd->add_option("RUN", o->run, "run directory, or one of its checkpoints (.pt)")->required();
  cmd->add_option("--input", o->input, "a patient folder, or a folder of patient folders")->required();
  cmd->add_option("--output", o->output, "CSV to write (default: print only)");
  cmd->add_option("--slices", o->slices,
                  "also write every scored slice's probability as CSV patient_id,slice,probability (default: none)");
  cmd->add_option("--dicom-out", o->dicom.dir,
                  "also write DIR/<patient>/SC0001.dcm...: the top slices with the Grad-CAM overlay (the windowed\n"
                  "slice alone for models without one) and the probability burned in, as a new series of the\n"
                  "source study; only PatientID and StudyInstanceUID are copied (default: none)");
  cmd->add_option("--dicom-top", o->dicom.top, "images per patient for --dicom-out (default: the run's eval.top_slices)")
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("--force", o->force, "replace an existing output file (and write into a non-empty --dicom-out folder)");
  cmd->add_flag("--skip-bad", o->skip_bad, "leave out (and list) unreadable or non-CT patients");
  add_device_option(cmd, o->device,
                    "where the model runs: auto|cpu|cuda|cuda:N, whatever device it was trained on (default: auto)")
      ->capture_default_str();
  cmd->callback([o] { run_infer(*o); });
}

}  // namespace tomograd::app
