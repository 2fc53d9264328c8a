// lumbar score: the competition metric of a submission against a train.csv-style solution.
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/tasks/lumbar/labels.hpp"

namespace tomograd::app {

namespace {

namespace lumbar = tomograd::tasks::lumbar;

struct ScoreOptions {
  std::string solution, submission;
  bool json = false;
};

void print_json(const eval::LumbarScore& s) {
  auto value = [](const eval::MetricValue& v) {
    return v.defined() ? nlohmann::json(v.value()) : nlohmann::json(nullptr);
  };
  nlohmann::json j{{"score", value(s.score)},
                   {"spinal", value(s.spinal)},
                   {"foraminal", value(s.foraminal)},
                   {"subarticular", value(s.subarticular)},
                   {"any_severe_spinal", value(s.any_severe_spinal)},
                   {"studies", s.studies}};
  std::cout << j.dump() << "\n";
}

void print_text(const eval::LumbarScore& s) {
  auto line = [](const char* name, const eval::MetricValue& v) {
    std::cout << std::left << std::setw(20) << name;
    if (v.defined()) std::cout << std::fixed << std::setprecision(6) << v.value() << "\n";
    else std::cout << "undefined (" << v.reason() << ")\n";
  };
  line("score", s.score);
  line("spinal", s.spinal);
  line("foraminal", s.foraminal);
  line("subarticular", s.subarticular);
  line("any_severe_spinal", s.any_severe_spinal);
}

void run_score(const ScoreOptions& o) {
  const auto sol = lumbar::read_train_csv(o.solution);
  const auto sub = lumbar::read_submission(o.submission);
  const auto s = lumbar::score_submission(sol, sub);
  if (o.json) print_json(s);
  else print_text(s);
}

}  // namespace

void setup_score(CLI::App& app) {
  auto o = std::make_shared<ScoreOptions>();
  auto* cmd = app.add_subcommand(
      "score",
      "The competition metric of a submission (row_id,normal_mild,moderate,severe with\n"
      "row_id = <study_id>_<condition>_<level>) against a train.csv-style solution: the mean of the\n"
      "sample-weighted (1/2/4) log losses of spinal canal, foraminal and subarticular rows and the\n"
      "any_severe_spinal term (lower is better). Rows whose label is empty in the solution are left\n"
      "out; every labelled row must be in the submission.\n"
      "Example: lumbar score --solution train.csv --submission submission.csv --json");
  cmd->add_option("--solution", o->solution, "train.csv: study_id + the 25 label columns")->required();
  cmd->add_option("--submission", o->submission, "submission CSV")->required();
  cmd->add_flag("--json", o->json, "print {score, spinal, foraminal, subarticular, any_severe_spinal, studies, rows}");
  cmd->callback([o] { run_score(*o); });
}

}  // namespace tomograd::app
