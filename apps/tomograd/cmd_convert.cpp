// tomograd convert IN OUT: DICOM -> NIfTI, NIfTI -> DICOM folder (or DICOM -> DICOM re-encoding).
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/io/dicom_base.hpp"
#include "tomograd/io/nifti_base.hpp"
#include "tomograd/io/volume_io_base.hpp"

namespace fs = std::filesystem;

namespace tomograd::app {

namespace {

struct ConvertOptions {
  std::string input, output, series, reorient;
  bool strict = false, force = false;
  int nifti_version = 1, gzip_level = 1, threads = 0;
  std::string dtype = "auto";
  std::string modality, encoding = "explicit-little", patient_id = "ANON", description;
};

void run_convert(const ConvertOptions& o) {
  io::DicomReadOptions read;
  read.strict = o.strict;
  read.threads = o.threads;
  Image v = io::load_image(o.input, o.series, read);
  if (!o.reorient.empty()) {
    v = reorient(v, o.reorient == "canonical" ? canonical_orientation(v.geometry().direction) : o.reorient);
  }
  const Overwrite overwrite = o.force ? Overwrite::kAllow : Overwrite::kNever;
  if (io::is_nifti_path(o.output)) {
    io::NiftiWriteOptions w;
    w.version = o.nifti_version;
    w.datatype = io::parse_nifti_datatype(o.dtype);
    w.overwrite = overwrite;
    w.gzip_level = o.gzip_level;
    w.threads = o.threads;
    const io::NiftiWriteResult r = io::write_nifti(v.view(), o.output, w);
    logger()->info("stored as {} (scl_slope {}, scl_inter {}), {} bytes",
                   io::nifti_datatype_name(r.datatype), r.scl_slope, r.scl_inter, r.bytes);
  } else {
    std::error_code ec;
    if (fs::exists(o.output, ec) && !fs::is_directory(o.output, ec)) {
      throw IoError("output '" + o.output + "' exists and is not a folder; DICOM output is a folder, "
                    "NIfTI output ends in .nii or .nii.gz");
    }
    if (fs::is_directory(o.output, ec) && !fs::is_empty(o.output, ec) && !o.force) {
      throw IoError("output folder '" + o.output + "' is not empty (use --force to add files to it)");
    }
    io::DicomWriteOptions w;
    w.modality = !o.modality.empty() ? o.modality : (v.info().modality == "MR" ? "MR" : "CT");
    w.encoding = io::parse_dicom_encoding(o.encoding);
    w.patient_id = o.patient_id;
    w.series_description = o.description;
    w.overwrite = overwrite;
    auto files = io::write_dicom_series(v.view(), o.output, w);
    logger()->info("wrote {} DICOM files", files.size());
  }
  const ImageGeometry& g = v.geometry();
  std::cout << o.output << ": " << v.cols() << "x" << v.rows() << "x" << v.depth() << " voxels, spacing "
            << g.spacing_mm[0] << "," << g.spacing_mm[1] << "," << g.spacing_mm[2] << " mm (z,y,x), "
            << orientation_code(g.direction) << "\n";
}

}  // namespace

void setup_convert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  auto* cmd = app.add_subcommand(
      "convert",
      "Convert a volume between DICOM and NIfTI. OUT ending in .nii or .nii.gz writes NIfTI;\n"
      "anything else is a folder that receives one DICOM file per slice (int16 with rescale).\n"
      "Existing files are never overwritten unless --force.\n"
      "Examples:\n"
      "  tomograd convert scans/patient01 patient01.nii.gz --series 'T1 SAG'\n"
      "  tomograd convert mask.nii.gz mask_dicom/ --modality CT --encoding jpeg-ls-lossless");
  cmd->add_option("input", o->input, "DICOM file/folder/DICOMDIR or .nii/.nii.gz")->required();
  cmd->add_option("output", o->output, ".nii/.nii.gz file or a DICOM output folder")->required();
  cmd->add_option("--series", o->series, "series to read: UID, description or index from 'tomograd info' "
                                         "(default: the only series)");
  cmd->add_flag("--strict", o->strict, "duplicate/missing slices and uneven spacing are errors, not warnings");
  cmd->add_option("--reorient", o->reorient, "reorient first: a code such as LPS or RAS, or 'canonical' "
                                             "(axial LPS, sagittal PIR, coronal LIP)");
  cmd->add_option("--nifti-version", o->nifti_version, "1 or 2 (default: 1)")
      ->check(CLI::IsMember({1, 2}))->capture_default_str();
  cmd->add_option("--dtype", o->dtype,
                  "NIfTI data type: auto|uint8|int16|uint16|int32|float32|float64. auto stores the\n"
                  "values losslessly in the fewest bytes, as dcm2niix does: integers (a CT in HU, or the\n"
                  "DICOM stored values with RescaleSlope/Intercept as scl_slope/scl_inter) as uint8, int16\n"
                  "or uint16, anything else as float32; an explicit integer type rounds and clamps\n"
                  "(default: auto)")
      ->check(CLI::Validator(
          [](std::string& name) {
            try {
              io::parse_nifti_datatype(name);
              return std::string();
            } catch (const std::exception& e) {
              return std::string(e.what());
            }
          },
          "TYPE"))
      ->capture_default_str();
  cmd->add_option("--gzip-level", o->gzip_level,
                  ".nii.gz output: zlib level, 1 fastest .. 9 smallest, 0 stored. 1 is about 5x faster\n"
                  "than 6 (pigz's and dcm2niix's default) and about 3% larger on CT (default: 1)")
      ->check(CLI::Range(0, 9))->capture_default_str();
  cmd->add_option("--threads", o->threads,
                  "threads for reading DICOM, converting and compressing (default: 0 = all cores)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--modality", o->modality, "DICOM output: CT or MR (default: input modality, else CT)")
      ->check(CLI::IsMember({"CT", "MR"}));
  cmd->add_option("--encoding", o->encoding,
                  "DICOM output transfer syntax: explicit-little, implicit-little, explicit-big, deflated, "
                  "rle, jpeg-lossless, jpeg-ls-lossless (default: explicit-little)")
      ->capture_default_str();
  cmd->add_option("--patient-id", o->patient_id, "DICOM output PatientID (default: ANON)")->capture_default_str();
  cmd->add_option("--description", o->description, "DICOM output SeriesDescription");
  cmd->add_flag("--force", o->force, "allow overwriting the output file or writing into a non-empty folder");
  cmd->callback([o] { run_convert(*o); });
}

}  // namespace tomograd::app
