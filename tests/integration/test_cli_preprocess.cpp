// Runs `tomograd brain-extract`, `preprocess` and `preview` on generated head CT phantoms: exit
// codes, files written, messages on bad input.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "support/cli.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/io/nifti.hpp"
#include "tomograd/preprocess/morphology.hpp"
#include "tomograd/preprocess/phantom.hpp"

using namespace tomograd;
namespace fs = std::filesystem;
using test::run_command;
using test::shell_quote;
using test::tomograd_app;
using test::q;
using test::source_path;

namespace {


preprocess::HeadPhantom phantom(uint64_t seed = 0, bool bleed = false) {
  preprocess::HeadPhantomOptions o;
  o.seed = seed;
  o.hemorrhage = bleed;
  return preprocess::make_head_phantom(o);
}

}  // namespace

TEST_CASE("tomograd brain-extract writes the mask and prints the volume", "[cli]") {
  test::TempDir tmp;
  auto p = phantom();
  io::write_nifti(p.ct, tmp / "ct.nii.gz");
  auto r = run_command(tomograd_app() + " brain-extract " + q(tmp / "ct.nii.gz") + " --out " + q(tmp / "mask.nii.gz") +
                       " --masked " + q(tmp / "brain.nii.gz"));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("brain volume:") && Catch::Contains("mL"));
  Volume mask = io::read_nifti(tmp / "mask.nii.gz");
  CHECK(preprocess::dice(mask.data(), p.brain) >= 0.95);
  CHECK(mask.spacing_mm()[0] == Approx(p.ct.spacing_mm()[0]));
  Volume masked = io::read_nifti(tmp / "brain.nii.gz");
  CHECK(masked.data().masked_select(mask.data().eq(0)).eq(-1024).all().item<bool>());
  // Never overwrite without --force; --json reports the same volume.
  auto again = run_command(tomograd_app() + " brain-extract " + q(tmp / "ct.nii.gz") + " --out " + q(tmp / "mask.nii.gz"));
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("refusing to overwrite"));
  auto js = run_command(tomograd_app() + " brain-extract " + q(tmp / "ct.nii.gz") + " --out " + q(tmp / "mask.nii.gz") +
                        " --force --json");
  REQUIRE(js.exit_code == 0);
  auto j = nlohmann::json::parse(js.out);
  CHECK(j["brain_volume_ml"].get<double>() == Approx(preprocess::mask_volume_ml(mask.data(), mask.spacing_mm())));
}

TEST_CASE("tomograd brain-extract usage errors and bad input", "[cli]") {
  test::TempDir tmp;
  auto help = run_command(tomograd_app() + " brain-extract --help");
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("Example") && Catch::Contains("default: 4"));
  CHECK(run_command(tomograd_app() + " brain-extract " + q(tmp / "x.nii.gz")).exit_code == 2);  // --out missing
  auto missing = run_command(tomograd_app() + " brain-extract " + q(tmp / "nope.nii.gz") + " --out " + q(tmp / "m.nii.gz"));
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.err, Catch::Contains("nope.nii.gz"));
  io::write_nifti(Volume(torch::full({4, 32, 32}, 600.0f), {5, 1, 1}), tmp / "mr.nii.gz");
  auto mr = run_command(tomograd_app() + " brain-extract " + q(tmp / "mr.nii.gz") + " --out " + q(tmp / "m.nii.gz"));
  CHECK(mr.exit_code == 1);
  CHECK_THAT(mr.err, Catch::Contains("CT in HU"));
  CHECK(!fs::exists(tmp / "m.nii.gz"));
  auto png = run_command(tomograd_app() + " brain-extract " + q(tmp / "mr.nii.gz") + " --out " + q(tmp / "m.png"));
  CHECK(png.exit_code == 1);
  CHECK_THAT(png.err, Catch::Contains("must end in .nii"));
}

TEST_CASE("tomograd preprocess fills the cache, resumes and reports failures", "[cli]") {
  test::TempDir tmp;
  io::write_nifti(phantom(1).ct, tmp / "a.nii.gz");
  io::write_nifti(phantom(2, true).ct, tmp / "b.nii.gz");
  write_file_atomic(tmp / "m.csv", "patient_id,path\nP1,a.nii.gz\nP2,b.nii.gz\n");
  const fs::path config = source_path("configs/preprocess_head_ct.yaml");
  const std::string base = tomograd_app() + " preprocess --config " + q(config) + " --manifest " + q(tmp / "m.csv") +
                           " --cache " + q(tmp / "cache") + " --set preprocess.resize.height=32" +
                           " --set preprocess.resize.width=32";
  auto r = run_command(base);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("2 studies: 2 built, 0 reused, 0 rebuilt, 0 failed"));
  CHECK(fs::exists(tmp / "cache" / "index.csv"));
  auto again = run_command(base);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.out, Catch::Contains("0 built, 2 reused"));
  // A study that is not a head CT fails with its reason; the rest is kept.
  io::write_nifti(Volume(torch::full({3, 16, 16}, 500.0f), {5, 1, 1}), tmp / "mr.nii.gz");
  write_file_atomic(tmp / "m.csv", "patient_id,path\nP1,a.nii.gz\nP2,b.nii.gz\nP3,mr.nii.gz\n", Overwrite::kAllow);
  auto bad = run_command(base);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.out, Catch::Contains("0 built, 2 reused, 0 rebuilt, 1 failed") && Catch::Contains("mr.nii.gz"));
  CHECK_THAT(bad.err, Catch::Contains("1 of 3 studies failed"));
  // Config errors name the dotted key.
  write_file_atomic(tmp / "bad.yaml", "preprocess:\n  resize: {heigth: 3}\n");
  auto cfg = run_command(tomograd_app() + " preprocess --config " + q(tmp / "bad.yaml") + " --manifest " + q(tmp / "m.csv") +
                         " --cache " + q(tmp / "cache"));
  CHECK(cfg.exit_code == 1);
  CHECK_THAT(cfg.err, Catch::Contains("unknown key 'preprocess.resize.heigth'"));
  CHECK(run_command(tomograd_app() + " preprocess --config " + q(config)).exit_code == 2);
}

TEST_CASE("tomograd preview writes a PNG grid, the same for the same seed", "[cli]") {
  test::TempDir tmp;
  io::write_nifti(phantom(3, true).ct, tmp / "ct.nii.gz");
  const fs::path config = source_path("configs/preprocess_head_ct.yaml");
  const std::string base = tomograd_app() + " preview --config " + q(config) + " " + q(tmp / "ct.nii.gz") +
                           " --set preprocess.resize.height=64 --set preprocess.resize.width=64 --tile 64" +
                           " --label 0 --seed 5 --samples 2";
  auto r = run_command(base + " --slices 6,8 --out " + q(tmp / "a.png"));
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("2 slices, 2 augmented samples"));
  // 2 rows of 64 px; raw + preprocessed + 2 x (augmented, difference) columns of 64 px.
  CHECK_THAT(r.out, Catch::Contains("384x128 px"));
  auto same = run_command(base + " --slices 6,8 --out " + q(tmp / "b.png"));
  REQUIRE(same.exit_code == 0);
  CHECK(read_file(tmp / "a.png") == read_file(tmp / "b.png"));
  auto other = run_command(tomograd_app() + " preview --config " + q(config) + " " + q(tmp / "ct.nii.gz") +
                           " --set preprocess.resize.height=64 --set preprocess.resize.width=64 --tile 64" +
                           " --slices 6,8 --label 0 --seed 6 --samples 2 --out " + q(tmp / "c.png"));
  REQUIRE(other.exit_code == 0);
  CHECK(read_file(tmp / "a.png") != read_file(tmp / "c.png"));
  auto exists = run_command(base + " --slices 6,8 --out " + q(tmp / "a.png"));
  CHECK(exists.exit_code == 1);
  CHECK_THAT(exists.err, Catch::Contains("refusing to overwrite"));
  auto range = run_command(base + " --slices 99 --out " + q(tmp / "d.png"));
  CHECK(range.exit_code == 1);
  CHECK_THAT(range.err, Catch::Contains("slice 99 is outside"));
  auto bad_slices = run_command(base + " --slices 1,x --out " + q(tmp / "e.png"));
  CHECK(bad_slices.exit_code == 1);
  CHECK_THAT(bad_slices.err, Catch::Contains("expected comma-separated slice indices"));
}
