// metastasis: patient-level brain metastasis detection from head CT — preprocess, train,
// infer, evaluate. The work is in tomograd::tasks.
#include <CLI/CLI.hpp>

#include "../common/app_main.hpp"

#include <iostream>
#include <memory>

#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/build_info.hpp"
#include "tomograd/tasks/metastasis.hpp"

namespace met = tomograd::tasks::metastasis;

namespace {

struct ConfigArgs {
  std::string config, data;
  std::vector<std::string> set;
  bool skip_bad = false;
};

void add_config_options(CLI::App* cmd, ConfigArgs& a) {
  cmd->add_option("--config", a.config, "run configuration YAML (configs/metastasis_resnet50.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--data", a.data, "data folder with CTs/<patient_id>/ and labels.csv (patient_id,label)");
  cmd->add_option("--set", a.set, "override a config key, repeatable: --set train.epochs=5");
  cmd->add_flag("--skip-bad", a.skip_bad, "leave out (and list) patients with bad input instead of stopping");
}

met::MetastasisConfig load(const ConfigArgs& a) {
  std::vector<std::string> overrides = a.set;
  if (!a.data.empty()) overrides.push_back("data.dir=" + a.data);
  if (a.skip_bad) overrides.emplace_back("data.skip_bad=true");
  return met::load_config(a.config, overrides);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"metastasis " TOMOGRAD_VERSION
               ": patient-level brain metastasis detection from non-contrast head CT.\n"
               "HU -> brain extraction -> brain window -> z-score -> 256² -> slice quality filter; a 2D CNN\n"
               "scores every kept slice and the patient's logit is the MAX over its slices (the loss is\n"
               "computed once per patient). Curriculum unfreezing, class-conditional augmentation, a\n"
               "threshold chosen on validation. See docs/metastasis.md. Typical session:\n"
               "  tomograd synth metastasis --out data --patients 40 --scale 0.125\n"
               "  metastasis train --config configs/metastasis_resnet50.yaml --data data --out runs/m50\n"
               "  metastasis evaluate runs/m50\n"
               "  metastasis infer runs/m50 --input data/CTs --output predictions.csv",
               "metastasis"};
  tomograd::app::add_global_options(app, TOMOGRAD_VERSION);

  auto pre_args = std::make_shared<ConfigArgs>();
  auto cache = std::make_shared<std::string>();
  auto* pre = app.add_subcommand("preprocess",
                                 "Preprocess every patient's CT into the cache (reused by train, evaluate, infer).\n"
                                 "Example: metastasis preprocess --config configs/metastasis_resnet50.yaml --data data "
                                 "--cache cache/");
  add_config_options(pre, *pre_args);
  pre->add_option("--cache", *cache, "cache folder (default: data.cache_dir, else ~/.cache/tomograd/preprocess)");
  pre->callback([=] {
    ConfigArgs a = *pre_args;
    if (!cache->empty()) a.set.push_back("data.cache_dir=" + *cache);
    const int n = met::preprocess_data(load(a));
    std::cout << n << " studies preprocessed or already cached\n";
  });

  auto train_args = std::make_shared<ConfigArgs>();
  auto out = std::make_shared<std::string>();
  auto resume = std::make_shared<bool>(false);
  auto force = std::make_shared<bool>(false);
  auto* train = app.add_subcommand(
      "train",
      "Train on DIR's patients, split by patient and stratified by label into train/val/test\n"
      "(data.val, data.test: 60/20/20 by default; --set data.test=0 gives the 80/20 train/val split).\n"
      "The threshold and the best checkpoint are chosen on validation; test patients are held out.\n"
      "Every bad input is listed before training. Checkpoints: best (val F1), best_val_specificity,\n"
      "end of each curriculum stage, last, final, with the validation threshold;\n"
      "checkpoints/summary.csv lists them.\n"
      "Example: metastasis train --config configs/metastasis_resnet50.yaml --data data --out runs/m50");
  add_config_options(train, *train_args);
  train->add_option("--out", *out, "run directory (must not exist or be empty)")->required();
  train->add_flag("--resume", *resume, "continue the run in --out from checkpoints/last.pt");
  train->add_flag("--force", *force, "train into a non-empty run directory (replaces its checkpoints)");
  train->callback([=] {
    const auto config = load(*train_args);
    const auto s = met::train_model(config, *out, *resume, *force);
    std::cout << "trained " << s.epochs_run << " epochs; best epoch " << s.best_epoch + 1 << " ("
              << config.train.monitor << " " << s.best_value << "); run: " << *out << "\n";
  });

  auto run = std::make_shared<std::string>();
  auto input = std::make_shared<std::string>();
  auto output = std::make_shared<std::string>();
  auto skip = std::make_shared<bool>(false);
  auto* infer = app.add_subcommand(
      "infer",
      "Score one patient folder (prints probability, decision and top slices) or a folder of patient\n"
      "folders (CSV patient_id,probability,prediction,top_slice). Any CT size and slice count; the\n"
      "run's preprocessing and validation threshold are used.\n"
      "Example: metastasis infer runs/m50 --input scans/ --output predictions.csv");
  infer->add_option("RUN", *run, "run directory, or one of its checkpoints (.pt)")->required();
  infer->add_option("--input", *input, "a patient folder, or a folder of patient folders")->required();
  auto slices_out = std::make_shared<std::string>();
  infer->add_option("--output", *output, "CSV to write (default: print only)");
  infer->add_option("--slices", *slices_out,
                    "also write every scored slice's probability as CSV patient_id,slice,probability (default: none)");
  infer->add_flag("--force", *force, "replace an existing output file");
  infer->add_flag("--skip-bad", *skip, "leave out (and list) unreadable or non-CT patients");
  infer->callback([=] {
    const auto scores = met::infer(*run, *input, *output, *force, *skip, *slices_out);
    if (scores.size() == 1 && output->empty()) {
      const auto& s = scores[0];
      auto slices = s.slice_probabilities;
      std::sort(slices.begin(), slices.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      std::cout << "patient " << s.patient_id << ": probability " << s.probability << ", "
                << (s.prediction ? "metastasis suspected" : "no metastasis detected") << "\ntop slices:";
      for (std::size_t k = 0; k < std::min<std::size_t>(5, slices.size()); ++k) {
        std::cout << " " << slices[k].first << " (" << slices[k].second << ")";
      }
      std::cout << "\n";
    } else {
      for (const auto& s : scores) {
        std::cout << s.patient_id << "," << s.probability << "," << s.prediction << "," << s.top_slice << "\n";
      }
      if (!output->empty()) std::cout << "wrote " << *output << "\n";
    }
  });

  auto split = std::make_shared<std::string>();
  auto data = std::make_shared<std::string>();
  auto checkpoint = std::make_shared<std::string>("best");
  auto* evaluate = app.add_subcommand(
      "evaluate",
      "Patient-level metrics with bootstrap intervals at the stored threshold, ROC/PR, confusion\n"
      "matrix, slice-level metrics side by side, and the top slices with Grad-CAM overlays, in\n"
      "RUN/eval/<split>/report.html. The report names the split, the number of patients, where the\n"
      "threshold came from and how the intervals were computed.\n"
      "Example: metastasis evaluate runs/m50 --data external_data/");
  evaluate->add_option("RUN", *run, "run directory")->required();
  evaluate->add_option("--split", *split,
                       "train|val|test|all of the run's patients (default: test, the held-out patients; val when "
                       "the run has no test split, and the report then says the threshold was tuned on them)");
  evaluate->add_option("--data", *data, "evaluate another data folder (CTs/ + labels.csv) instead");
  evaluate->add_option("--checkpoint", *checkpoint, "best|last|final|<stage>|best_val_specificity or a .pt path")
      ->capture_default_str();
  evaluate->add_flag("--force", *force, "replace an earlier evaluation");
  evaluate->callback([=] {
    const auto dir = met::evaluate_run(*run, *split, *data, *checkpoint, *force);
    std::cout << tomograd::read_file(dir / "summary.md") << "\n" << tomograd::read_file(dir / "slice_vs_patient.md");
    std::cout << "wrote " << (dir / "report.html").string() << "\n";
  });

  return tomograd::app::run_app(app, argc, argv);
}
