// lumbar: RSNA 2024 lumbar spine degenerative classification. So far: the competition score of a
// submission, dataset checks and (annotated) PNG export. The work is in tomograd::tasks.
#include <CLI/CLI.hpp>

#include "../common/app_main.hpp"

#include <iomanip>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "tomograd/core/build_info.hpp"
#include "tomograd/tasks/lumbar.hpp"

namespace lumbar = tomograd::tasks::lumbar;

int main(int argc, char** argv) {
  CLI::App app{"lumbar " TOMOGRAD_VERSION
               ": RSNA 2024 lumbar spine degenerative classification (5 conditions x 5 levels x 3 grades).\n"
               "Example: lumbar score --solution train.csv --submission submission.csv",
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

  return tomograd::app::run_app(app, argc, argv);
}
