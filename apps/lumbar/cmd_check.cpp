// lumbar check: read and check a dataset folder, every problem listed with its file and line.
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "tomograd/tasks/lumbar/dataset.hpp"

namespace tomograd::app {

namespace {

namespace lumbar = tomograd::tasks::lumbar;

struct CheckOptions {
  std::string data, split = "train";
};

void run_check(const CheckOptions& o) {
  const auto ds = lumbar::read_dataset(o.data, o.split, true);
  std::cout << ds.labels.size() << " labelled studies, " << ds.series.size() << " series, " << ds.coordinates.size()
            << " label coordinates: no problems found\n";
}

}  // namespace

void setup_check(CLI::App& app) {
  auto o = std::make_shared<CheckOptions>();
  auto* cmd = app.add_subcommand(
      "check",
      "Read and check a dataset folder (train.csv, <split>_series_descriptions.csv,\n"
      "<split>_label_coordinates.csv, <split>_images/): every problem is listed with its file and line.\n"
      "Example: lumbar check --data rsna-2024/");
  cmd->add_option("--data", o->data, "dataset folder")->required();
  cmd->add_option("--split", o->split, "train|test (default: train)")->capture_default_str();
  cmd->callback([o] { run_check(*o); });
}

}  // namespace tomograd::app
