// tomograd synth bmd|lumbar|metastasis: synthetic cohorts (the embedded defaults of the task apps).
#include <iostream>

#include "commands.hpp"
#include "tomograd/tasks/bmd/synth.hpp"
#include "tomograd/tasks/lumbar/synth.hpp"
#include "tomograd/tasks/metastasis/synth.hpp"

namespace tomograd::app {

namespace {

void add_synth_bmd(CLI::App* synth) {
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

void add_synth_lumbar(CLI::App* synth) {
  auto l = std::make_shared<tasks::LumbarSynthOptions>();
  auto l_out = std::make_shared<std::string>();
  auto* lumbar = synth->add_subcommand(
      "lumbar",
      "Lumbar spine MRI studies in the RSNA 2024 Lumbar Spine Degenerative Classification layout:\n"
      "train_images/<study_id>/<series_id>/<instance_number>.dcm (Sagittal T1, Sagittal T2/STIR and\n"
      "Axial T2 with 3 slices per disc), train_series_descriptions.csv, train.csv (25 severities:\n"
      "5 conditions x L1/L2..L5/S1, Normal/Mild, Moderate or Severe, ~5 % empty) and\n"
      "train_label_coordinates.csv. Severity narrows the canal, foramen or lateral recess in the\n"
      "images. See docs/synthetic_lumbar.md.\n"
      "Example: tomograd synth lumbar --out rsna_synth --studies 50 --scale 0.25 --seed 1");
  lumbar->add_option("--out", *l_out, "output folder (created; must be empty unless --force)")->required();
  lumbar->add_option("--studies", l->studies, "number of studies (default: 20)")->capture_default_str();
  lumbar->add_option("--test-studies", l->test_studies,
                     "also write a test set: test_images/, test_series_descriptions.csv and test_solution.csv\n"
                     "(its labels in train.csv's format, for lumbar score; no coordinates) (default: 0)")
      ->capture_default_str();
  lumbar->add_option("--seed", l->seed, "random seed (default: 0)")->capture_default_str();
  lumbar->add_option("--scale", l->scale, "in-plane size factor: 1 gives 512², 0.125 gives 64², at least 32² (default: 1)")
      ->capture_default_str();
  lumbar->add_option("--threads", l->threads, "studies rendered at once (default: 0 = all cores)")->capture_default_str();
  lumbar->add_flag("--force", l->force, "write into a non-empty folder, replacing files");
  lumbar->callback([l, l_out] {
    l->out = *l_out;
    auto rows = tasks::synthesize_lumbar_cohort(*l);
    std::cout << "wrote " << rows.size()
              << " lumbar studies (3 series each), train.csv, train_series_descriptions.csv and "
                 "train_label_coordinates.csv to "
              << *l_out << (l->test_studies > 0 ? " (the last " + std::to_string(l->test_studies) +
                                                      " as the test set: test_images/, test_series_descriptions.csv, "
                                                      "test_solution.csv)"
                                                : std::string())
              << "\n";
  });
}

void add_synth_metastasis(CLI::App* synth) {
  auto m = std::make_shared<tasks::MetastasisSynthOptions>();
  auto m_out = std::make_shared<std::string>();
  auto* met = synth->add_subcommand(
      "metastasis",
      "Axial head CT DICOM series (CT, int16, RescaleIntercept -1024) with a brain-metastasis label\n"
      "each: CTs/<patient_id>/IM0001.dcm..., labels.csv (patient_id,label) and lesions.csv (the\n"
      "ground-truth lesions). Positives carry 1-3 lesions of 3-15 mm, hyperdense or ring-shaped, in\n"
      "the brain parenchyma; head size, pose, slice count (30-50), spacing (3-5 mm), beam hardening\n"
      "and noise vary per patient. See docs/synthetic_metastasis.md.\n"
      "Example: tomograd synth metastasis --out met_cohort --patients 200 --scale 0.125 --seed 1");
  met->add_option("--out", *m_out, "output folder (created; must be empty unless --force)")->required();
  met->add_option("--patients", m->patients, "number of patients (default: 100)")->capture_default_str();
  met->add_option("--seed", m->seed, "random seed (default: 0)")->capture_default_str();
  met->add_option("--scale", m->scale, "in-plane size factor: 1 gives 512², 0.125 gives 64², at least 32² (default: 1)")
      ->capture_default_str();
  met->add_option("--prevalence", m->prevalence,
                  "fraction of patients with metastases, exactly round(N*P) of them (default: 0.5)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  auto lesion_mm = std::make_shared<std::vector<double>>(std::vector<double>{m->lesion_min_mm, m->lesion_max_mm});
  auto enhancement = std::make_shared<std::vector<double>>(std::vector<double>{m->enhancement_min_hu, m->enhancement_max_hu});
  met->add_option("--lesion-mm", *lesion_mm, "lesion diameter range MIN MAX in mm, log-uniform (default: 3 15)")
      ->expected(2);
  met->add_option("--enhancement-hu", *enhancement,
                  "lesion enhancement over the parenchyma MIN MAX in HU (default: 25 45)")
      ->expected(2);
  met->add_option("--threads", m->threads, "patients rendered at once (default: 0 = all cores)")->capture_default_str();
  met->add_flag("--force", m->force, "write into a non-empty folder, replacing files");
  met->callback([m, m_out, lesion_mm, enhancement] {
    m->out = *m_out;
    m->lesion_min_mm = (*lesion_mm)[0];
    m->lesion_max_mm = (*lesion_mm)[1];
    m->enhancement_min_hu = (*enhancement)[0];
    m->enhancement_max_hu = (*enhancement)[1];
    auto rows = tasks::synthesize_metastasis_cohort(*m);
    int positives = 0;
    for (const auto& r : rows) positives += r.label;
    std::cout << "wrote " << rows.size() << " head CTs (" << positives << " with metastases), labels.csv and lesions.csv to "
              << *m_out << "\n";
  });
}

}  // namespace

void setup_synth(CLI::App& app) {
  auto* synth = app.add_subcommand("synth", "Generate synthetic cohorts with known labels (see docs/synthetic_*.md).");
  synth->require_subcommand(1);
  add_synth_bmd(synth);
  add_synth_lumbar(synth);
  add_synth_metastasis(synth);
}

}  // namespace tomograd::app
