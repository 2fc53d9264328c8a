// tomograd preview --config C INPUT --out FILE.png: raw vs preprocessed vs augmented slices.
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/volume_io.hpp"
#include "tomograd/preprocess/preview.hpp"

namespace tomograd::app {

namespace {

struct PreviewCmdOptions {
  std::string config, input, out, series, slices, label = "*", window = "brain";
  std::vector<std::string> overrides;
  uint64_t seed = 0;
  int samples = 3, tile = 192;
  bool force = false;
};

std::vector<int64_t> parse_slices(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    try {
      std::size_t used = 0;
      out.push_back(std::stoll(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw ValueError("--slices '" + text + "': expected comma-separated slice indices such as 10,20,30");
    }
  }
  return out;
}

void run_preview(const PreviewCmdOptions& o) {
  preprocess::PreprocessConfig config = preprocess::load_preprocess_config(o.config, o.overrides);
  preprocess::PreviewOptions p;
  p.slices = parse_slices(o.slices);
  p.seed = o.seed;
  p.label = o.label;
  p.samples = o.samples;
  p.tile_px = o.tile;
  p.raw_window = parse_window(o.window);
  p.overwrite = o.force ? Overwrite::kAllow : Overwrite::kNever;
  if (!o.force && std::filesystem::exists(o.out)) throw IoError("refusing to overwrite '" + o.out + "' (use --force)");
  Volume v = io::load_volume(o.input, o.series);
  auto s = preprocess::write_preview(v, config, p, o.out);
  std::cout << "wrote " << o.out << " (" << s.width << "x" << s.height << " px): " << s.slices.size()
            << " slices, " << s.samples << " augmented samples each (label " << o.label << ", seed " << o.seed << ")\n";
}

}  // namespace

void setup_preview(CLI::App& app) {
  auto o = std::make_shared<PreviewCmdOptions>();
  auto* cmd = app.add_subcommand(
      "preview",
      "Write a PNG grid to check preprocessing and augmentation: per slice the raw slice (windowed),\n"
      "the preprocessed slice (first channel), and augmented samples with heat maps of their\n"
      "difference from the preprocessed slice. The same --seed gives the same picture.\n"
      "Example:\n"
      "  tomograd preview --config configs/preprocess_head_ct.yaml scans/head_ct --out preview.png "
      "--slices 10,20,30 --label 1 --seed 7");
  cmd->add_option("input", o->input, "DICOM file/folder/DICOMDIR or .nii/.nii.gz")->required();
  cmd->add_option("--config", o->config, "YAML with preprocess/slices/augment sections")->required();
  cmd->add_option("--out", o->out, "PNG file to write")->required();
  cmd->add_option("--slices", o->slices, "slice indices after preprocessing, e.g. 10,20,30 "
                                         "(default: 3 spread over the quality-passing slices)");
  cmd->add_option("--seed", o->seed, "augmentation seed (default: 0)")->capture_default_str();
  cmd->add_option("--label", o->label, "class label whose augmentation policy is shown (default: *)")->capture_default_str();
  cmd->add_option("--samples", o->samples, "augmented samples per slice (default: 3)")->capture_default_str();
  cmd->add_option("--window", o->window, "window of the raw column: preset or C,W (default: brain)")->capture_default_str();
  cmd->add_option("--tile", o->tile, "tile size in pixels (default: 192)")->capture_default_str();
  cmd->add_option("--series", o->series, "series UID, description or index (default: the only series)");
  cmd->add_option("--set", o->overrides, "override a config key (repeatable; default: none)");
  cmd->add_flag("--force", o->force, "overwrite the PNG");
  cmd->callback([o] { run_preview(*o); });
}

}  // namespace tomograd::app
