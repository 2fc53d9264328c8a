// lumbar: RSNA 2024 lumbar spine degenerative classification. So far: the competition score of a
// submission. The work is in tomograd::tasks.
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

  return tomograd::app::run_app(app, argc, argv);
}
