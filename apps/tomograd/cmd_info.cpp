// tomograd info PATH [--json]: one row per series, from headers only.
#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "tomograd/io/dicom_base.hpp"
#include "tomograd/io/nifti_base.hpp"

namespace tomograd::app {

namespace {

struct InfoOptions {
  std::string path;
  bool json = false;
  int threads = 0;
};

nlohmann::json series_row(const io::DicomSeries& s, std::size_t index) {
  io::SeriesGeometry g = io::series_geometry(s, false);
  nlohmann::json row;
  row["index"] = index;
  row["series_uid"] = s.info.series_uid;
  row["series_number"] = s.info.series_number;
  row["modality"] = s.info.modality;
  row["description"] = s.info.series_description;
  row["rows"] = s.rows;
  row["cols"] = s.cols;
  row["slices"] = g.order.size();
  row["spacing_mm"] = {g.spacing_mm[0], g.spacing_mm[1], g.spacing_mm[2]};
  row["orientation"] = orientation_code(g.direction);
  row["transfer_syntaxes"] = s.transfer_syntax_names();
  row["warnings"] = g.warnings;
  return row;
}

nlohmann::json nifti_row(const std::string& path) {
  const Image v = io::read_nifti_image(path);
  const ImageGeometry& g = v.geometry();
  nlohmann::json row;
  row["index"] = 0;
  row["series_uid"] = "";
  row["series_number"] = 0;
  row["modality"] = "";
  row["description"] = std::filesystem::path(path).filename().string();
  row["rows"] = v.rows();
  row["cols"] = v.cols();
  row["slices"] = v.depth();
  row["spacing_mm"] = {g.spacing_mm[0], g.spacing_mm[1], g.spacing_mm[2]};
  row["orientation"] = orientation_code(g.direction);
  row["transfer_syntaxes"] = nlohmann::json::array();
  row["warnings"] = nlohmann::json::array();
  return row;
}

std::string fmt(double v) {
  std::ostringstream s;
  s << std::setprecision(4) << v;
  return s.str();
}

void run_info(const InfoOptions& o) {
  nlohmann::json out;
  out["path"] = o.path;
  out["series"] = nlohmann::json::array();
  if (io::is_nifti_path(o.path)) {
    out["series"].push_back(nifti_row(o.path));
  } else {
    io::DicomScanOptions scan;
    scan.threads = o.threads;
    auto series = io::scan_dicom(o.path, scan);
    for (std::size_t i = 0; i < series.size(); ++i) out["series"].push_back(series_row(series[i], i));
  }
  if (o.json) {
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::cout << std::left << std::setw(4) << "#" << std::setw(66) << "series_uid" << std::setw(9) << "modality"
            << std::setw(24) << "description" << std::setw(16) << "size" << std::setw(22) << "spacing_mm (z,y,x)"
            << std::setw(8) << "orient" << "transfer syntaxes\n";
  for (const auto& r : out["series"]) {
    std::string size = std::to_string(r["cols"].get<int>()) + "x" + std::to_string(r["rows"].get<int>()) + "x" +
                       std::to_string(r["slices"].get<int>());
    std::string spacing = fmt(r["spacing_mm"][0]) + "," + fmt(r["spacing_mm"][1]) + "," + fmt(r["spacing_mm"][2]);
    std::string xfers;
    for (const auto& x : r["transfer_syntaxes"]) xfers += (xfers.empty() ? "" : "; ") + x.get<std::string>();
    std::cout << std::setw(4) << r["index"].get<int>() << std::setw(66) << r["series_uid"].get<std::string>()
              << std::setw(9) << r["modality"].get<std::string>() << std::setw(24)
              << r["description"].get<std::string>().substr(0, 23) << std::setw(16) << size << std::setw(22)
              << spacing << std::setw(8) << r["orientation"].get<std::string>() << xfers << "\n";
    for (const auto& w : r["warnings"]) std::cout << "    warning: " << w.get<std::string>() << "\n";
  }
}

}  // namespace

void setup_info(CLI::App& app) {
  auto o = std::make_shared<InfoOptions>();
  auto* cmd = app.add_subcommand(
      "info",
      "List the series in a DICOM file, folder (recursive) or DICOMDIR, or describe a NIfTI file.\n"
      "Reads headers only. One row per series: UID, modality, description, size (cols x rows x\n"
      "slices), spacing in mm (z,y,x; z from slice positions), orientation code, transfer\n"
      "syntaxes and geometry warnings (gaps, duplicates, non-uniform spacing).\n"
      "Example: tomograd info scans/patient01 --json");
  cmd->add_option("path", o->path, "DICOM file, folder or DICOMDIR, or a .nii/.nii.gz file")->required();
  cmd->add_flag("--json", o->json, "print JSON: {\"series\": [{series_uid, modality, description, rows, "
                                   "cols, slices, spacing_mm, transfer_syntaxes, warnings, ...}]}");
  cmd->add_option("--threads", o->threads, "header parsing threads (default: 0 = all cores)")->capture_default_str();
  cmd->callback([o] { run_info(*o); });
}

}  // namespace tomograd::app
