// lumbar: RSNA 2024 lumbar spine degenerative classification: training (localizer + sagittal,
// axial, combined or 3D classifiers by fold), inference to a submission, evaluation, the
// competition score, dataset checks and (annotated) PNG export. The work is in tomograd::tasks.
#include <CLI/CLI.hpp>

#include "../common/app_main.hpp"

#include <iomanip>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "tomograd/core/build_info.hpp"
#include "tomograd/tasks/lumbar.hpp"
#include "tomograd/tasks/lumbar_eval.hpp"
#include "tomograd/tasks/lumbar_train.hpp"

namespace lumbar = tomograd::tasks::lumbar;

int main(int argc, char** argv) {
  CLI::App app{"lumbar " TOMOGRAD_VERSION
               ": RSNA 2024 lumbar spine degenerative classification (5 conditions x 5 levels x 3 grades).\n"
               "Examples:\n"
               "  tomograd synth lumbar --out data --studies 40 --test-studies 8 --scale 0.125\n"
               "  lumbar train --config configs/lumbar_sagittal.yaml --data data --out runs/sag\n"
               "  lumbar infer runs/sag --data data --out submission.csv\n"
               "  lumbar score --solution data/test_solution.csv --submission submission.csv\n"
               "  lumbar evaluate runs/sag runs/axial runs/combined runs/3d --out comparison",
               "lumbar"};
  tomograd::app::add_global_options(app, TOMOGRAD_VERSION);

  auto solution = std::make_shared<std::string>();
  auto submission = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  auto* score = app.add_subcommand(
      "score",
      "The competition metric of a submission (row_id,normal_mild,moderate,severe with\n"
      "row_id = <study_id>_<condition>_<level>) against a train.csv-style solution: the mean of the\n"
      "sample-weighted (1/2/4) log losses of spinal canal, foraminal and subarticular rows and the\n"
      "any_severe_spinal term (lower is better). Rows whose label is empty in the solution are left\n"
      "out; every labelled row must be in the submission.\n"
      "Example: lumbar score --solution train.csv --submission submission.csv --json");
  score->add_option("--solution", *solution, "train.csv: study_id + the 25 label columns")->required();
  score->add_option("--submission", *submission, "submission CSV")->required();
  score->add_flag("--json", *json, "print {score, spinal, foraminal, subarticular, any_severe_spinal, studies, rows}");
  score->callback([=] {
    const auto sol = lumbar::read_train_csv(*solution);
    const auto sub = lumbar::read_submission(*submission);
    const auto s = lumbar::score_submission(sol, sub);
    auto value = [](const tomograd::eval::MetricValue& v) {
      return v.defined() ? nlohmann::json(v.value()) : nlohmann::json(nullptr);
    };
    if (*json) {
      nlohmann::json j{{"score", value(s.score)},
                       {"spinal", value(s.spinal)},
                       {"foraminal", value(s.foraminal)},
                       {"subarticular", value(s.subarticular)},
                       {"any_severe_spinal", value(s.any_severe_spinal)},
                       {"studies", s.studies}};
      std::cout << j.dump() << "\n";
      return;
    }
    auto line = [](const char* name, const tomograd::eval::MetricValue& v) {
      std::cout << std::left << std::setw(20) << name;
      if (v.defined()) std::cout << std::fixed << std::setprecision(6) << v.value() << "\n";
      else std::cout << "undefined (" << v.reason() << ")\n";
    };
    line("score", s.score);
    line("spinal", s.spinal);
    line("foraminal", s.foraminal);
    line("subarticular", s.subarticular);
    line("any_severe_spinal", s.any_severe_spinal);
  });

  auto data = std::make_shared<std::string>();
  auto split = std::make_shared<std::string>("train");
  auto* check = app.add_subcommand(
      "check",
      "Read and check a dataset folder (train.csv, <split>_series_descriptions.csv,\n"
      "<split>_label_coordinates.csv, <split>_images/): every problem is listed with its file and line.\n"
      "Example: lumbar check --data rsna-2024/");
  check->add_option("--data", *data, "dataset folder")->required();
  check->add_option("--split", *split, "train|test (default: train)")->capture_default_str();
  check->callback([=] {
    const auto ds = lumbar::read_dataset(*data, *split, true);
    std::cout << ds.labels.size() << " labelled studies, " << ds.series.size() << " series, "
              << ds.coordinates.size() << " label coordinates: no problems found\n";
  });

  auto out = std::make_shared<std::string>();
  auto annotate = std::make_shared<bool>(false);
  auto force = std::make_shared<bool>(false);
  auto studies = std::make_shared<std::vector<std::string>>();
  auto* png = app.add_subcommand(
      "export-png",
      "Every instance as <study_id>_<series_id>_<instance_number>.png (0.5-99.5th percentile window\n"
      "per series); --annotate draws the label coordinates with condition, level and grade\n"
      "(green Normal/Mild, orange Moderate, red Severe).\n"
      "Example: lumbar export-png rsna-2024/ --out pngs/ --annotate --study 4003253");
  png->add_option("DIR", *data, "dataset folder")->required();
  png->add_option("--out", *out, "output folder")->required();
  png->add_option("--split", *split, "train|test (default: train)")->capture_default_str();
  png->add_flag("--annotate", *annotate, "draw the label coordinates and grades");
  png->add_option("--study", *studies, "only these studies (repeatable)");
  png->add_flag("--force", *force, "replace existing PNG files");
  png->callback([=] {
    const auto ds = lumbar::read_dataset(*data, *split, true);
    const auto n = lumbar::export_pngs(ds, *out, *annotate, *studies, *force);
    std::cout << "wrote " << n << " PNG files to " << *out << "\n";
  });

  struct TrainArgs {
    std::string config, data, out, localizer;
    std::vector<std::string> set;
    std::vector<int> folds;
    bool force = false;
  };
  auto ta = std::make_shared<TrainArgs>();
  auto* train = app.add_subcommand(
      "train",
      "Train a run: the level localizer (once per run, RUN/localizer/, with its error in mm on fold 0),\n"
      "then the 25 x 3 classifier of each cross-validation fold (RUN/fold_<K>/, out-of-fold predictions\n"
      "in oof.csv). The config's input.kind picks sagittal, axial, combined (2.5D crops around the\n"
      "levels) or volume (3D with metadata). A run can be filled fold by fold (--fold) with the same\n"
      "config. Example: lumbar train --config configs/lumbar_sagittal.yaml --data data --out runs/sag");
  train->add_option("--config", ta->config, "run configuration (configs/lumbar_{sagittal,axial,combined,3d}.yaml)")
      ->required()
      ->check(CLI::ExistingFile);
  train->add_option("--data", ta->data, "dataset folder (train.csv, train_series_descriptions.csv, "
                                        "train_label_coordinates.csv, train_images/)");
  train->add_option("--out", ta->out, "run directory")->required();
  train->add_option("--fold", ta->folds, "train only this fold (repeatable; default: every fold)");
  train->add_option("--set", ta->set, "override a config key, repeatable: --set train.epochs=5");
  train->add_option("--localizer", ta->localizer,
                    "reuse the localizer and folds.csv of another run on the same data instead of training one")
      ->check(CLI::ExistingDirectory);
  train->add_flag("--force", ta->force, "retrain folds (and the localizer) that exist");
  train->callback([ta] {
    std::vector<std::string> overrides = ta->set;
    if (!ta->data.empty()) overrides.push_back("data.dir=" + ta->data);
    const auto config = lumbar::load_config(ta->config, overrides);
    const double score = lumbar::train(config, ta->out, ta->folds, ta->force, ta->localizer);
    std::cout << "mean out-of-fold score " << score << " (lower is better); run: " << ta->out
              << "\nnext: lumbar evaluate " << ta->out << "\n";
  });

  struct InferArgs {
    std::string run, data, split = "test", out, coordinates;
    bool force = false;
  };
  auto ia = std::make_shared<InferArgs>();
  auto* infer = app.add_subcommand(
      "infer",
      "Predict every study of a dataset folder without label coordinates: the run's localizer places\n"
      "the 25 label points, every trained fold's classifier is applied and their probabilities\n"
      "averaged. Writes row_id,normal_mild,moderate,severe with row_id = <study_id>_<condition>_<level>\n"
      "(25 rows per study, each summing to 1).\n"
      "Example: lumbar infer runs/sag --data rsna-2024 --out submission.csv");
  infer->add_option("RUN", ia->run, "run directory (lumbar train --out)")->required()->check(CLI::ExistingDirectory);
  infer->add_option("--data", ia->data, "dataset folder with <split>_series_descriptions.csv and <split>_images/")
      ->required();
  infer->add_option("--split", ia->split, "test|train: the file name prefix (default: test)")->capture_default_str();
  infer->add_option("--out", ia->out, "submission CSV")->required();
  infer->add_option("--coordinates", ia->coordinates,
                    "also write the predicted points (train_label_coordinates.csv columns)");
  infer->add_flag("--force", ia->force, "replace existing output files");
  infer->callback([ia] {
    const auto n = lumbar::infer(ia->run, ia->data, ia->split, ia->out, ia->coordinates, ia->force);
    std::cout << "wrote " << n * 25 << " rows (" << n << " studies) to " << ia->out << "\n";
  });

  struct EvalArgs {
    std::vector<std::string> runs;
    std::string out;
    int bootstrap = 1000;
    bool force = false;
  };
  auto ea = std::make_shared<EvalArgs>();
  auto* evaluate = app.add_subcommand(
      "evaluate",
      "Out-of-fold evaluation of runs: the competition metric and its parts with bootstrap intervals\n"
      "over studies, per condition/level AUC, confusion matrices and a classification report in\n"
      "RUN/eval/; with several runs (e.g. sagittal, axial, combined, 3D) also one comparison table in\n"
      "--out. Example: lumbar evaluate runs/sag runs/axial runs/combined runs/3d --out comparison");
  evaluate->add_option("RUN", ea->runs, "run directories")->required()->check(CLI::ExistingDirectory);
  evaluate->add_option("--out", ea->out, "folder of the comparison (several runs; default: comparison/)");
  evaluate->add_option("--bootstrap", ea->bootstrap, "study resamples for 95 % intervals (0 = none)")
      ->capture_default_str();
  evaluate->add_flag("--force", ea->force, "replace existing evaluation files");
  evaluate->callback([ea] {
    std::vector<std::filesystem::path> runs(ea->runs.begin(), ea->runs.end());
    const std::filesystem::path out = ea->out.empty() && runs.size() > 1 ? "comparison" : ea->out;
    const auto dir = lumbar::evaluate_runs(runs, out, ea->bootstrap, 42, ea->force);
    std::cout << "evaluation written to " << dir.string() << "\n";
  });

  return tomograd::app::run_app(app, argc, argv);
}
