// Runs the tomograd binary itself: exit codes, files written, JSON shape, error messages.
#include <catch2/catch.hpp>
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/cli.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/build_info.hpp"
#include "tomograd/io/dicom.hpp"
#include "tomograd/io/nifti.hpp"

using namespace tomograd;
namespace fs = std::filesystem;
using test::run_command;
using test::shell_quote;
using test::tomograd_app;

namespace {

Volume ct_volume() {
  torch::manual_seed(3);
  auto t = torch::randint(-1024, 1500, {5, 16, 12}).to(torch::kFloat32);
  return Volume(t, {3.0, 0.8, 0.7}, {-50, -60, 10});
}

}  // namespace

TEST_CASE("tomograd --help and usage errors", "[cli]") {
  auto r = run_command(tomograd_app() + " --help");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("info") && Catch::Contains("convert") && Catch::Contains("export-png") &&
                        Catch::Contains("doctor"));
  auto sub = run_command(tomograd_app() + " convert --help");
  CHECK(sub.exit_code == 0);
  CHECK_THAT(sub.out, Catch::Contains("Example"));
  CHECK(run_command(tomograd_app()).exit_code == 2);
  CHECK(run_command(tomograd_app() + " info").exit_code == 2);
  CHECK(run_command(tomograd_app() + " frobnicate").exit_code == 2);
}

TEST_CASE("tomograd info --json lists series with the documented keys", "[cli]") {
  test::TempDir tmp;
  io::DicomWriteOptions a, b;
  a.series_description = "AX";
  a.series_number = 1;
  b.series_description = "COR";
  b.series_number = 2;
  io::write_dicom_series(ct_volume(), tmp / "study" / "a", a);
  b.encoding = io::DicomEncoding::kRle;
  io::write_dicom_series(ct_volume(), tmp / "study" / "b", b);
  auto r = run_command(tomograd_app() + " info " + shell_quote((tmp / "study").string()) + " --json");
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["series"].size() == 2);
  for (const char* key : {"series_uid", "modality", "description", "rows", "cols", "slices", "spacing_mm",
                          "transfer_syntaxes", "warnings"}) {
    CHECK(j["series"][0].contains(key));
  }
  CHECK(j["series"][0]["description"] == "AX");
  CHECK(j["series"][0]["rows"] == 16);
  CHECK(j["series"][0]["cols"] == 12);
  CHECK(j["series"][0]["slices"] == 5);
  CHECK(j["series"][0]["spacing_mm"][0].get<double>() == Approx(3.0));
  CHECK(j["series"][1]["transfer_syntaxes"][0].get<std::string>().find("RLE") != std::string::npos);
  // Plain text: one row per series.
  auto t = run_command(tomograd_app() + " info " + shell_quote((tmp / "study").string()));
  CHECK(t.exit_code == 0);
  CHECK_THAT(t.out, Catch::Contains("AX") && Catch::Contains("COR") && Catch::Contains("12x16x5"));
}

TEST_CASE("tomograd info reports missing input and non-DICOM folders clearly", "[cli]") {
  test::TempDir tmp;
  auto r = run_command(tomograd_app() + " info " + shell_quote((tmp / "nope").string()));
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("does not exist") && Catch::Contains("nope"));
  write_file_atomic(tmp / "notes.txt", "hello");
  auto t = run_command(tomograd_app() + " info " + shell_quote(tmp.path().string()));
  CHECK(t.exit_code == 1);
  CHECK_THAT(t.err, Catch::Contains("no DICOM image found"));
}

TEST_CASE("tomograd convert DICOM -> NIfTI -> DICOM keeps values and geometry", "[cli]") {
  test::TempDir tmp;
  Volume v = ct_volume();
  io::write_dicom_series(v, tmp / "dcm");
  auto r = run_command(tomograd_app() + " convert " + shell_quote((tmp / "dcm").string()) + " " +
                       shell_quote((tmp / "v.nii.gz").string()) + " --dtype int16");
  REQUIRE(r.exit_code == 0);
  Volume n = io::read_nifti(tmp / "v.nii.gz");
  CHECK(torch::equal(n.data(), v.data()));
  CHECK(n.spacing_mm()[0] == Approx(3.0));
  CHECK(n.origin_lps()[0] == Approx(-50));
  // Never overwrite what exists.
  auto again = run_command(tomograd_app() + " convert " + shell_quote((tmp / "dcm").string()) + " " +
                           shell_quote((tmp / "v.nii.gz").string()));
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("refusing to overwrite"));
  auto back = run_command(tomograd_app() + " convert " + shell_quote((tmp / "v.nii.gz").string()) + " " +
                          shell_quote((tmp / "dcm2").string()) + " --encoding jpeg-ls-lossless");
  REQUIRE(back.exit_code == 0);
  Volume d = io::read_dicom(tmp / "dcm2");
  CHECK(torch::equal(d.data(), v.data()));
  auto into_full = run_command(tomograd_app() + " convert " + shell_quote((tmp / "v.nii.gz").string()) + " " +
                               shell_quote((tmp / "dcm2").string()));
  CHECK(into_full.exit_code == 1);
  CHECK_THAT(into_full.err, Catch::Contains("not empty"));
  auto bad_enc = run_command(tomograd_app() + " convert " + shell_quote((tmp / "v.nii.gz").string()) + " " +
                             shell_quote((tmp / "dcm3").string()) + " --encoding jpeg2000");
  CHECK(bad_enc.exit_code == 1);
  CHECK_THAT(bad_enc.err, Catch::Contains("unknown DICOM encoding"));
}

TEST_CASE("tomograd convert keeps integer DICOM data as integers unless --dtype float32", "[cli]") {
  test::TempDir tmp;
  const Volume v = ct_volume();
  io::write_dicom_series(v, tmp / "dcm");
  const std::string in = shell_quote((tmp / "dcm").string());
  // NIfTI-1 datatype code (int16 at byte 70): 4 = int16, 16 = float32.
  auto datatype_code = [](const fs::path& nii) {
    const std::string b = read_file(nii);
    REQUIRE(b.size() > 72);
    return static_cast<unsigned char>(b[70]) | (static_cast<unsigned char>(b[71]) << 8);
  };
  const int64_t n = v.data().numel();
  for (const std::string threads : {"1", "2"}) {
    const fs::path out = tmp / ("default" + threads + ".nii");
    auto r = run_command(tomograd_app() + " convert " + in + " " + shell_quote(out.string()) + " --threads " + threads);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(datatype_code(out) == 4);
    CHECK(fs::file_size(out) == static_cast<std::uintmax_t>(352 + 2 * n));  // half the bytes of float32
    CHECK(torch::equal(io::read_nifti(out).data(), v.data()));
  }
  auto f = run_command(tomograd_app() + " convert " + in + " " + shell_quote((tmp / "f.nii").string()) + " --dtype float32");
  REQUIRE(f.exit_code == 0);
  CHECK(datatype_code(tmp / "f.nii") == 16);
  CHECK(fs::file_size(tmp / "f.nii") == static_cast<std::uintmax_t>(352 + 4 * n));
  CHECK(torch::equal(io::read_nifti(tmp / "f.nii").data(), v.data()));
  for (const std::string level : {"1", "9"}) {
    const fs::path out = tmp / ("l" + level + ".nii.gz");
    auto r = run_command(tomograd_app() + " convert " + in + " " + shell_quote(out.string()) + " --gzip-level " + level);
    REQUIRE(r.exit_code == 0);
    CHECK(torch::equal(io::read_nifti(out).data(), v.data()));
  }
  auto bad = run_command(tomograd_app() + " convert " + in + " " + shell_quote((tmp / "x.nii.gz").string()) +
                         " --gzip-level 12");
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.err, Catch::Contains("--gzip-level"));
  CHECK_FALSE(fs::exists(tmp / "x.nii.gz"));
  auto bad_type = run_command(tomograd_app() + " convert " + in + " " + shell_quote((tmp / "y.nii").string()) +
                              " --dtype rgb24");
  CHECK(bad_type.exit_code != 0);
  CHECK_THAT(bad_type.err, Catch::Contains("unknown NIfTI datatype 'rgb24'") && Catch::Contains("auto"));
  CHECK_FALSE(fs::exists(tmp / "y.nii"));
  auto help = run_command(tomograd_app() + " convert --help");
  CHECK_THAT(help.out, Catch::Contains("--gzip-level") && Catch::Contains("default: auto") &&
                           Catch::Contains("--threads"));
}

TEST_CASE("tomograd export-png writes one windowed PNG per slice", "[cli]") {
  test::TempDir tmp;
  io::DicomWriteOptions o;
  o.study_uid = "1.2.3";
  o.series_uid = "1.2.3.4";
  io::write_dicom_series(ct_volume(), tmp / "dcm", o);
  auto r = run_command(tomograd_app() + " export-png " + shell_quote((tmp / "dcm").string()) + " " +
                       shell_quote((tmp / "png").string()) + " --window brain");
  REQUIRE(r.exit_code == 0);
  for (int i = 1; i <= 5; ++i) CHECK(fs::exists(tmp / "png" / ("1.2.3_1.2.3.4_" + std::to_string(i) + ".png")));
  auto bad = run_command(tomograd_app() + " export-png " + shell_quote((tmp / "dcm").string()) + " " +
                         shell_quote((tmp / "png2").string()) + " --window brian");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("invalid window 'brian'"));
}

TEST_CASE("tomograd doctor passes every check", "[cli]") {
  auto r = run_command(tomograd_app() + " doctor --json");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["ok"] == true);
  CHECK(j["versions"].contains("dcmtk"));
  CHECK(j["versions"].contains("libtorch"));
  CHECK(j["checks"].size() >= 6);
  // The BLAS LibTorch calls and the CPU threads the app gave it (OMP_NUM_THREADS decides under ctest).
  CHECK_FALSE(j["versions"]["blas"].get<std::string>().empty());
  CHECK(j["cpu"]["intra_op_threads"].get<int>() >= 1);
  CHECK(j["cpu"]["physical_cores"].get<int>() <= j["cpu"]["hardware_threads"].get<int>());
}

TEST_CASE("tomograd never prints patient names or birth dates", "[cli]") {
  test::TempDir tmp;
  auto files = io::write_dicom_series(ct_volume(), tmp / "dcm");
  for (const auto& f : files) {
    DcmFileFormat ff;
    REQUIRE(ff.loadFile(f.c_str()).good());
    ff.getDataset()->putAndInsertString(DCM_PatientName, "Doe^Jane");
    ff.getDataset()->putAndInsertString(DCM_PatientBirthDate, "19610407");
    ff.getDataset()->putAndInsertString(DCM_PatientID, "P042");
    REQUIRE(ff.saveFile(f.c_str(), EXS_LittleEndianExplicit).good());
  }
  std::string all;
  for (const std::string cmd : {" info ", " info --json ", " --log-level debug info "}) {
    auto r = run_command(tomograd_app() + cmd + shell_quote((tmp / "dcm").string()));
    CHECK(r.exit_code == 0);
    all += r.out + r.err;
  }
  auto c = run_command(tomograd_app() + " --log-level debug convert " + shell_quote((tmp / "dcm").string()) + " " +
                       shell_quote((tmp / "v.nii").string()));
  CHECK(c.exit_code == 0);
  all += c.out + c.err + read_file(tmp / "v.nii");
  auto p = run_command(tomograd_app() + " export-png " + shell_quote((tmp / "dcm").string()) + " " +
                       shell_quote((tmp / "png").string()));
  CHECK(p.exit_code == 0);
  all += p.out + p.err;
  CHECK(all.find("Doe") == std::string::npos);
  CHECK(all.find("Jane") == std::string::npos);
  CHECK(all.find("19610407") == std::string::npos);
}

TEST_CASE("files from our DICOM writer read identically in pydicom and parse in dcmdump", "[cli]") {
  test::TempDir tmp;
  Volume v = ct_volume();
  io::DicomWriteOptions o;
  o.encoding = io::DicomEncoding::kExplicitLittle;
  auto files = io::write_dicom_series(v, tmp / "ele", o);
  o.encoding = io::DicomEncoding::kExplicitBig;
  io::write_dicom_series(v, tmp / "ebe", o);
  o.encoding = io::DicomEncoding::kRle;
  io::write_dicom_series(v, tmp / "rle", o);
  // dcmdump (DCMTK's own tool) must parse every file without error.
  auto d = run_command("dcmdump -q " + shell_quote(files[0].string()));
  CHECK(d.exit_code == 0);
  CHECK_THAT(d.out, Catch::Contains("(0028,1052)") && Catch::Contains("-1024"));
  // pydicom (Debian python3-pydicom, an independent reader): HU = pixel_array * slope + intercept,
  // sorted by ImagePositionPatient along the normal; we compare every voxel.
  write_file_atomic(tmp / "read.py",
                    "import sys, glob, numpy as np, pydicom\n"
                    "ds = [pydicom.dcmread(f) for f in glob.glob(sys.argv[1] + '/*.dcm')]\n"
                    "n = np.cross(np.array(ds[0].ImageOrientationPatient[:3], float),\n"
                    "             np.array(ds[0].ImageOrientationPatient[3:], float))\n"
                    "ds.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, float), n)))\n"
                    "vol = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ds])\n"
                    "np.asarray(vol, dtype='<f4').tofile(sys.argv[2])\n");
  for (const char* enc : {"ele", "ebe", "rle"}) {
    INFO(enc);
    auto r = run_command("/usr/bin/python3 " + shell_quote((tmp / "read.py").string()) + " " +
                         shell_quote((tmp / enc).string()) + " " + shell_quote((tmp / "vol.raw").string()));
    REQUIRE(r.exit_code == 0);
    std::string raw = read_file(tmp / "vol.raw");
    REQUIRE(raw.size() == static_cast<std::size_t>(v.data().numel()) * sizeof(float));
    auto theirs = torch::from_blob(raw.data(), v.data().sizes(), torch::kFloat32).clone();
    CHECK(torch::equal(theirs, v.data()));
    fs::remove(tmp / "vol.raw");
  }
}

TEST_CASE("the tomograd and lumbar front ends link no LibTorch, run their own commands and hand the rest on", "[cli]") {
  // Its dynamic section names no LibTorch library (so `metrics`, `ml` and `--version` never load
  // it); tomograd-torch does.
  for (const char* light : {TOMOGRAD_APP, TOMOGRAD_LUMBAR_APP}) {
    INFO(light);
    auto needed = run_command("readelf -d " + shell_quote(light));
    REQUIRE(needed.exit_code == 0);
    CHECK_THAT(needed.out, Catch::Contains("(NEEDED)") && !Catch::Contains("libtorch") && !Catch::Contains("libc10"));
  }
  auto full = run_command("readelf -d " + shell_quote(TOMOGRAD_TORCH_APP));
  CHECK_THAT(full.out, Catch::Contains("libtorch"));
  // `tomograd --version` and `tomograd metrics --help` from the front end, `doctor --help` from
  // tomograd-torch: the same program to the user.
  auto version = run_command(tomograd_app() + " --version");
  CHECK(version.exit_code == 0);
  CHECK_THAT(version.out, Catch::Contains(TOMOGRAD_VERSION));
  auto metrics = run_command(tomograd_app() + " --log-level warn metrics --help");
  CHECK(metrics.exit_code == 0);
  CHECK_THAT(metrics.out, Catch::Contains("metrics"));
  auto doctor = run_command(tomograd_app() + " doctor --help");
  CHECK(doctor.exit_code == 0);
  CHECK_THAT(doctor.out, Catch::Contains("doctor"));
  // Usage errors keep their exit code through execv.
  CHECK(run_command(tomograd_app() + " doctor --no-such-option").exit_code == 2);
  // `lumbar score --help` from its front end, `lumbar train --help` from lumbar-torch.
  auto score = run_command(test::lumbar_app() + " score --help");
  CHECK(score.exit_code == 0);
  CHECK_THAT(score.out, Catch::Contains("--submission"));
  auto train = run_command(test::lumbar_app() + " train --help");
  CHECK(train.exit_code == 0);
  CHECK_THAT(train.out, Catch::Contains("--config"));
  // Copied away from tomograd-torch, the front end still runs metrics and names what is missing.
  test::TempDir tmp;
  fs::copy_file(TOMOGRAD_APP, tmp / "tomograd");
  fs::permissions(tmp / "tomograd", fs::perms::owner_all);
  CHECK(run_command(test::q(tmp / "tomograd") + " metrics --help").exit_code == 0);
  auto lost = run_command(test::q(tmp / "tomograd") + " doctor");
  CHECK(lost.exit_code == 1);
  CHECK_THAT(lost.err, Catch::Contains("cannot find tomograd-torch"));
}

TEST_CASE("the tomograd front end alone runs info, convert and export-png as tomograd-torch does", "[cli]") {
  // No tomograd-torch next to the copy, and no LibTorch in its dynamic section (test above): the
  // commands that need no model run without it, and print and write what tomograd-torch does.
  test::TempDir tmp;
  fs::copy_file(TOMOGRAD_APP, tmp / "tomograd");
  fs::permissions(tmp / "tomograd", fs::perms::owner_all);
  io::DicomWriteOptions w;
  w.series_description = "AX";
  io::write_dicom_series(ct_volume(), tmp / "dcm", w);
  const std::string in = test::q(tmp / "dcm");
  const std::vector<std::string> commands = {
      "info " + in, "info --json " + in, "convert " + in + " OUT/ct.nii", "convert " + in + " OUT/ct.nii.gz",
      "convert " + in + " OUT/ras.nii --reorient RAS --dtype float32", "convert OUT/ct.nii OUT/dcm",
      "export-png " + in + " OUT/png", "export-png OUT/ct.nii OUT/png16 --bits 16 --window 40,400"};
  for (const auto& [name, program] : {std::pair<std::string, std::string>{"light", test::q(tmp / "tomograd")},
                                      {"torch", test::q(TOMOGRAD_TORCH_APP)}}) {
    fs::create_directories(tmp / name / "OUT");
    for (std::size_t c = 0; c < commands.size(); ++c) {
      INFO(name << ": " << commands[c]);
      auto r = run_command("cd " + test::q(tmp / name) + " && " + program + " " + commands[c]);
      REQUIRE(r.exit_code == 0);
      write_file_atomic(tmp / name / (std::to_string(c) + ".out"), r.out);
    }
  }
  // Same stdout and the same files (DICOM output aside: its UIDs are new in every run).
  std::size_t compared = 0;
  for (const auto& entry : fs::recursive_directory_iterator(tmp / "light")) {
    const fs::path rel = fs::relative(entry.path(), tmp / "light");
    if (!entry.is_regular_file() || rel.string().rfind("OUT/dcm", 0) == 0) continue;
    INFO(rel.string());
    REQUIRE(fs::exists(tmp / "torch" / rel));
    CHECK(read_file(entry.path()) == read_file(tmp / "torch" / rel));
    ++compared;
  }
  CHECK(compared == commands.size() + 3 + 2 * 5);  // stdouts, 3 NIfTI files, 2 x 5 PNGs
  CHECK(fs::exists(tmp / "light" / "OUT" / "dcm" / "IM0005.dcm"));
}
