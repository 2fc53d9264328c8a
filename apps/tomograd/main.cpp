// tomograd: DICOM/NIfTI inspection and conversion, and an environment check.
#include <CLI/CLI.hpp>

#include <iostream>

#include "commands.hpp"
#include "tomograd/core/build_info.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"

int main(int argc, char** argv) {
  CLI::App app{"tomograd " TOMOGRAD_VERSION
               ": deep learning on CT and MRI from the command line.\n"
               "Inspect, convert and export DICOM and NIfTI data; check the installation.\n"
               "Examples:\n"
               "  tomograd info scans/patient01 --json\n"
               "  tomograd convert scans/patient01 out/patient01.nii.gz --series 0\n"
               "  tomograd doctor",
               "tomograd"};
  app.require_subcommand(1);
  app.fallthrough();  // global options (--quiet, --log-level) may follow the subcommand
  app.set_version_flag("--version", TOMOGRAD_VERSION);
  tomograd::LogOptions log;
  app.add_option("--log-level", log.level, "trace|debug|info|warn|error|off (default: info)")
      ->capture_default_str();
  app.add_flag("-q,--quiet", log.quiet, "only warnings and errors; no progress bars");
  app.add_option("--log-file", log.file, "also write a debug log to this file");
  app.parse_complete_callback([&] {
    tomograd::setup_logging(log);
    if (log.quiet) tomograd::set_progress_enabled(false);
  });
  tomograd::app::setup_info(app);
  tomograd::app::setup_convert(app);
  tomograd::app::setup_export_png(app);
  tomograd::app::setup_doctor(app);
  tomograd::app::setup_brain_extract(app);
  tomograd::app::setup_preprocess(app);
  tomograd::app::setup_preview(app);
  tomograd::app::setup_synth(app);
  tomograd::app::setup_bench(app);
  tomograd::app::setup_metrics(app);
  tomograd::app::setup_ml(app);
  tomograd::app::setup_weights(app);
  tomograd::app::setup_export(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;  // usage error
  } catch (const tomograd::Error& e) {
    tomograd::logger()->error("{}", e.what());
    return 1;
  } catch (const std::exception& e) {
    tomograd::logger()->error("unexpected failure: {}", e.what());
    return 1;
  }
  return 0;
}
