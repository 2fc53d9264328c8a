// tomograd brain-extract IN --out MASK.nii.gz [--masked OUT.nii.gz]: skull stripping of head CT.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <iomanip>
#include <iostream>

#include "commands.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/io/nifti.hpp"
#include "tomograd/io/volume_io.hpp"
#include "tomograd/preprocess/brain_extraction.hpp"

namespace tomograd::app {

namespace {

struct BrainExtractOptions {
  std::string input, out, masked, series;
  preprocess::BrainExtractionOptions params;
  double fill_hu = -1024.0;
  bool force = false, json = false;
};

void run_brain_extract(const BrainExtractOptions& o) {
  if (!io::is_nifti_path(o.out)) throw ValueError("--out '" + o.out + "' must end in .nii or .nii.gz");
  if (!o.masked.empty() && !io::is_nifti_path(o.masked)) {
    throw ValueError("--masked '" + o.masked + "' must end in .nii or .nii.gz");
  }
  const Overwrite overwrite = o.force ? Overwrite::kAllow : Overwrite::kNever;
  // Refuse before the work, not after it.
  for (const auto& p : {o.out, o.masked}) {
    if (!p.empty() && !o.force && std::filesystem::exists(p)) {
      throw IoError("refusing to overwrite '" + p + "' (use --force)");
    }
  }
  Volume ct = io::load_volume(o.input, o.series);
  preprocess::BrainMask b = preprocess::extract_brain(ct, o.params);
  Volume mask = ct;
  mask.set_data(b.mask.to(torch::kFloat32));
  io::NiftiWriteOptions w;
  w.datatype = io::NiftiDataType::kUint8;
  w.overwrite = overwrite;
  io::write_nifti(mask, o.out, w);
  if (!o.masked.empty()) {
    io::NiftiWriteOptions wm;
    wm.overwrite = overwrite;
    io::write_nifti(preprocess::apply_mask(ct, b.mask, static_cast<float>(o.fill_hu)), o.masked, wm);
  }
  if (o.json) {
    nlohmann::json j{{"input", o.input}, {"mask", o.out}, {"brain_volume_ml", b.volume_ml},
                     {"head_volume_ml", b.head_volume_ml}, {"voxels", b.mask.sum().item<int64_t>()}};
    if (!o.masked.empty()) j["masked"] = o.masked;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << std::fixed << std::setprecision(1) << "brain volume: " << b.volume_ml << " mL (head "
              << b.head_volume_ml << " mL); mask written to " << o.out << "\n";
  }
}

}  // namespace

void setup_brain_extract(CLI::App& app) {
  auto o = std::make_shared<BrainExtractOptions>();
  auto* cmd = app.add_subcommand(
      "brain-extract",
      "Skull stripping of a head CT in HU: writes the brain mask (uint8 NIfTI, same geometry as the\n"
      "input) and prints the brain volume in mL. The table, head holder, scalp, skull and air are\n"
      "left out; see docs/preprocess.md for the algorithm. Existing files are never overwritten\n"
      "unless --force.\n"
      "Examples:\n"
      "  tomograd brain-extract scans/head_ct --out brain_mask.nii.gz\n"
      "  tomograd brain-extract head.nii.gz --out mask.nii.gz --masked brain.nii.gz --margin-mm 1");
  cmd->add_option("input", o->input, "head CT: DICOM file/folder/DICOMDIR or .nii/.nii.gz")->required();
  cmd->add_option("--out", o->out, "brain mask to write (.nii or .nii.gz)")->required();
  cmd->add_option("--masked", o->masked, "also write the CT with everything outside the brain set to --fill-hu");
  cmd->add_option("--fill-hu", o->fill_hu, "value outside the brain in --masked (default: -1024)")->capture_default_str();
  cmd->add_option("--series", o->series, "series UID, description or index (default: the only series)");
  cmd->add_option("--opening-mm", o->params.opening_radius_mm,
                  "opening radius that cuts bridges through skull foramina (default: 4)")->capture_default_str();
  cmd->add_option("--closing-mm", o->params.closing_radius_mm, "closing radius of the final mask (default: 2)")
      ->capture_default_str();
  cmd->add_option("--margin-mm", o->params.margin_mm, "dilate the final mask by this much (default: 0)")
      ->capture_default_str();
  cmd->add_option("--bone-hu", o->params.bone_threshold_hu, "bone threshold in HU (default: 300)")->capture_default_str();
  cmd->add_flag("--json", o->json, "print {input, mask, brain_volume_ml, head_volume_ml, voxels} as JSON");
  cmd->add_flag("--force", o->force, "overwrite existing output files");
  cmd->callback([o] { run_brain_extract(*o); });
}

}  // namespace tomograd::app
