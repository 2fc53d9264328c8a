// tomograd export-png IN OUTDIR: one windowed PNG per slice.
#include <iostream>

#include "commands.hpp"
#include "tomograd/io/png_export_base.hpp"
#include "tomograd/io/volume_io_base.hpp"

namespace tomograd::app {

namespace {

struct ExportOptions {
  std::string input, outdir, series, window = "auto", study_id, series_id;
  int bits = 8;
  bool force = false;
};

void run_export(const ExportOptions& o) {
  const Image v = io::load_image(o.input, o.series);
  io::PngExportOptions p;
  p.window = o.window == "auto" ? io::auto_window(v.view()) : parse_window(o.window);
  p.bit_depth = o.bits;
  p.study_id = o.study_id;
  p.series_id = o.series_id;
  p.overwrite = o.force ? Overwrite::kAllow : Overwrite::kNever;
  auto files = io::export_png(v.view(), o.outdir, p);
  std::cout << "wrote " << files.size() << " PNG files to " << o.outdir << " (window " << p.window.center << "/"
            << p.window.width << ", " << o.bits << " bit)\n";
}

}  // namespace

void setup_export_png(CLI::App& app) {
  auto o = std::make_shared<ExportOptions>();
  auto* cmd = app.add_subcommand(
      "export-png",
      "Export every slice as a windowed greyscale PNG named <study_id>_<series_id>_<instance_number>.png.\n"
      "Examples:\n"
      "  tomograd export-png scans/head_ct pngs/ --window brain\n"
      "  tomograd export-png t2.nii.gz pngs/ --window 300,600 --bits 16");
  cmd->add_option("input", o->input, "DICOM file/folder/DICOMDIR or .nii/.nii.gz")->required();
  cmd->add_option("outdir", o->outdir, "output folder (created if missing)")->required();
  cmd->add_option("--window", o->window,
                  "auto, a preset (brain 40/80, subdural 80/200, stroke 40/40, bone 600/2800, soft_tissue "
                  "50/400, lung -600/1500) or CENTER,WIDTH (default: auto = the file's window, else the "
                  "0.5-99.5 percentile range)")
      ->capture_default_str();
  cmd->add_option("--bits", o->bits, "8 or 16 (default: 8)")->check(CLI::IsMember({8, 16}))->capture_default_str();
  cmd->add_option("--series", o->series, "series UID, description or index (default: the only series)");
  cmd->add_option("--study-id", o->study_id, "study id in file names (default: StudyInstanceUID)");
  cmd->add_option("--series-id", o->series_id, "series id in file names (default: SeriesInstanceUID)");
  cmd->add_flag("--force", o->force, "overwrite existing PNG files");
  cmd->callback([o] { run_export(*o); });
}

}  // namespace tomograd::app
