// lumbar export-png: every instance of a dataset folder as PNG, optionally with the label points.
#include <iostream>
#include <memory>
#include <vector>

#include "commands.hpp"
#include "tomograd/tasks/lumbar/dataset.hpp"

namespace tomograd::app {

namespace {

namespace lumbar = tomograd::tasks::lumbar;

struct ExportPngOptions {
  std::string data, out, split = "train";
  bool annotate = false, force = false;
  std::vector<std::string> studies;
};

void run_export_png(const ExportPngOptions& o) {
  const auto ds = lumbar::read_dataset(o.data, o.split, true);
  const auto n = lumbar::export_pngs(ds, o.out, o.annotate, o.studies, o.force);
  std::cout << "wrote " << n << " PNG files to " << o.out << "\n";
}

}  // namespace

void setup_export_png(CLI::App& app) {
  auto o = std::make_shared<ExportPngOptions>();
  auto* cmd = app.add_subcommand(
      "export-png",
      "Every instance as <study_id>_<series_id>_<instance_number>.png (0.5-99.5th percentile window\n"
      "per series); --annotate draws the label coordinates with condition, level and grade\n"
      "(green Normal/Mild, orange Moderate, red Severe).\n"
      "Example: lumbar export-png rsna-2024/ --out pngs/ --annotate --study 4003253");
  cmd->add_option("DIR", o->data, "dataset folder")->required();
  cmd->add_option("--out", o->out, "output folder")->required();
  cmd->add_option("--split", o->split, "train|test (default: train)")->capture_default_str();
  cmd->add_flag("--annotate", o->annotate, "draw the label coordinates and grades");
  cmd->add_option("--study", o->studies, "only these studies (repeatable)");
  cmd->add_flag("--force", o->force, "replace existing PNG files");
  cmd->callback([o] { run_export_png(*o); });
}

}  // namespace tomograd::app
