// tomograd synth bmd: synthetic cohorts (the embedded defaults of the task apps).
#include <iostream>

#include "commands.hpp"
#include "tomograd/tasks/bmd_synth.hpp"

namespace tomograd::app {

void setup_synth(CLI::App& app) {
  auto* synth = app.add_subcommand("synth", "Generate synthetic cohorts with known labels (see docs/synthetic_*.md).");
  synth->require_subcommand(1);
  auto o = std::make_shared<tasks::BmdSynthOptions>();
  auto out = std::make_shared<std::string>();
  auto* bmd = synth->add_subcommand(
      "bmd",
      "Sagittal lumbar T1 MRI DICOM series with a DXA spine BMD label each, plus manifest.csv\n"
      "(patient_id,path,bmd). Lower BMD gives brighter, coarser vertebral marrow; scanner gain,\n"
      "bias field and noise confound raw intensities.\n"
      "Example: tomograd synth bmd --out cohort --patients 60 --scale 0.125 --seed 1");
  bmd->add_option("--out", *out, "output folder (created; must be empty unless --force)")->required();
  bmd->add_option("--patients", o->patients, "number of patients (default: 60)")->capture_default_str();
  bmd->add_option("--seed", o->seed, "random seed (default: 0)")->capture_default_str();
  bmd->add_option("--scale", o->scale, "in-plane size factor: 1 gives 512²/1024², 0.125 gives 64²/128² (default: 1)")
      ->capture_default_str();
  bmd->add_option("--threads", o->threads, "rendering threads (default: 0 = all cores)")->capture_default_str();
  bmd->add_flag("--force", o->force, "write into a non-empty folder, replacing files");
  bmd->callback([o, out] {
    o->out = *out;
    auto rows = tasks::synthesize_bmd_cohort(*o);
    std::cout << "wrote " << rows.size() << " patients and manifest.csv to " << *out << "\n";
  });
}

}  // namespace tomograd::app
