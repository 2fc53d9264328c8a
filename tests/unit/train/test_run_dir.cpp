// train::RunDir: refusing to overwrite, checkpoint tags, the config read back, listing runs.
#include <catch2/catch.hpp>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/train/run_dir.hpp"

using namespace tomograd;
namespace fs = std::filesystem;

namespace {
/// Writes @p text to @p file, creating its folder.
void put(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  write_file_atomic(file, text);
}
}  // namespace

TEST_CASE("require_empty_dir refuses a folder that holds something, unless allowed", "[train]") {
  test::TempDir tmp;
  CHECK_NOTHROW(train::require_empty_dir(tmp / "new", false, "use --force"));
  fs::create_directories(tmp / "empty");
  CHECK_NOTHROW(train::require_empty_dir(tmp / "empty", false, "use --force"));
  put(tmp / "full" / "a.txt", "x");
  CHECK_THROWS_WITH(train::require_empty_dir(tmp / "full", false, "use --force"),
                    Catch::Contains("full") && Catch::Contains("not empty") && Catch::Contains("use --force"));
  CHECK_NOTHROW(train::require_empty_dir(tmp / "full", true, "use --force"));
  // A file where a folder is wanted is refused too.
  CHECK_THROWS_WITH(train::require_empty_dir(tmp / "full" / "a.txt", false, "h"), Catch::Contains("not empty"));
}

TEST_CASE("RunDir::for_training: new, resume and force", "[train]") {
  test::TempDir tmp;
  CHECK_THROWS_WITH(train::RunDir::for_training("", false, false), Catch::Contains("--out"));
  const fs::path run = tmp / "run";
  CHECK(train::RunDir::for_training(run, false, false).path() == run);
  CHECK_FALSE(fs::exists(run));  // creates nothing
  put(run / "config.yaml", "model: {arch: resnet18}\n");
  CHECK_THROWS_WITH(train::RunDir::for_training(run, false, false),
                    Catch::Contains("not empty") && Catch::Contains("--resume") && Catch::Contains("--force"));
  CHECK_NOTHROW(train::RunDir::for_training(run, false, true));
  CHECK_NOTHROW(train::RunDir::for_training(run, true, false));
  CHECK_THROWS_WITH(train::RunDir::for_training(run, true, false, {"config.yaml", "splits.csv"}),
                    Catch::Contains("cannot resume") && Catch::Contains("splits.csv"));
}

TEST_CASE("RunDir resolves checkpoints by tag or path and names the ones available", "[train]") {
  test::TempDir tmp;
  const train::RunDir run(tmp / "run");
  CHECK(run.checkpoint_path("best") == tmp / "run" / "checkpoints" / "best.pt");
  CHECK(run.checkpoint_path("best_val_f1") == tmp / "run" / "checkpoints" / "best_val_f1.pt");
  CHECK(run.checkpoint_path("other/x.pt") == fs::path("other/x.pt"));
  CHECK(run.checkpoint_path("x.pt") == fs::path("x.pt"));
  CHECK(train::RunDir::is_checkpoint_path("a/b"));
  CHECK_FALSE(train::RunDir::is_checkpoint_path("final"));
  CHECK_THROWS_WITH(run.checkpoint("best"), Catch::Contains("best.pt") && Catch::Contains("has no checkpoints"));
  put(tmp / "run" / "checkpoints" / "last.pt", "x");
  put(tmp / "run" / "checkpoints" / "final.pt", "x");
  put(tmp / "run" / "checkpoints" / "last.json", "{}");
  CHECK(run.checkpoint_tags() == std::vector<std::string>{"final", "last"});
  CHECK_THROWS_WITH(run.checkpoint("best"), Catch::Contains("available: final, last"));
  CHECK(run.checkpoint("last") == tmp / "run" / "checkpoints" / "last.pt");
  CHECK(run.best_or_last_checkpoint() == tmp / "run" / "checkpoints" / "last.pt");
  put(tmp / "run" / "checkpoints" / "best.pt", "x");
  CHECK(run.best_or_last_checkpoint() == tmp / "run" / "checkpoints" / "best.pt");
  CHECK(train::RunDir::of_checkpoint(tmp / "run" / "checkpoints" / "best.pt").path() == fs::absolute(tmp / "run"));
}

TEST_CASE("RunDir::open and config(): typed reading of the resolved config", "[train]") {
  test::TempDir tmp;
  CHECK_THROWS_WITH(train::RunDir::open(tmp / "none", {}, "bmd", "bmd train"), Catch::Contains("does not exist"));
  fs::create_directories(tmp / "run");
  CHECK_THROWS_WITH(train::RunDir::open(tmp / "run", {"config.yaml"}, "bmd", "bmd train"),
                    Catch::Contains("not a bmd run directory") && Catch::Contains("missing config.yaml") &&
                        Catch::Contains("bmd train"));
  CHECK_THROWS_WITH(train::RunDir(tmp / "run").config(), Catch::Contains("config.yaml"));
  put(tmp / "run" / "config.yaml", "model:\n  arch: resnet34\n  in_channels: 3\n");
  const train::RunDir run = train::RunDir::open(tmp / "run", {"config.yaml"}, "bmd", "bmd train");
  ConfigReader root = run.config();
  ConfigReader model = root.child("model");
  std::string arch;
  int channels = 0;
  model.get("arch", arch).get("in_channels", channels);
  CHECK(arch == "resnet34");
  CHECK(channels == 3);
  CHECK_THAT(root.source(), Catch::Contains("config.yaml"));
  CHECK(run.config_text() == "model:\n  arch: resnet34\n  in_channels: 3\n");
}

TEST_CASE("list_runs finds run directories two levels deep", "[train]") {
  test::TempDir tmp;
  CHECK_THROWS_WITH(train::list_runs(tmp / "none"), Catch::Contains("not a folder"));
  put(tmp / "runs" / "a" / "config.yaml", "x: 1\n");
  put(tmp / "runs" / "a" / "splits.csv", "patient_id\n");
  put(tmp / "runs" / "cv" / "fold_1" / "config.yaml", "x: 1\n");
  put(tmp / "runs" / "cv" / "fold_1" / "splits.csv", "patient_id\n");
  put(tmp / "runs" / "b" / "config.yaml", "x: 1\n");  // no splits.csv
  put(tmp / "runs" / "x" / "y" / "z" / "config.yaml", "x: 1\n");  // too deep
  auto paths = [](const std::vector<train::RunDir>& runs) {
    std::vector<fs::path> p;
    for (const auto& r : runs) p.push_back(r.path());
    return p;
  };
  CHECK(paths(train::list_runs(tmp / "runs", {"splits.csv"})) ==
        std::vector<fs::path>{tmp / "runs" / "a", tmp / "runs" / "cv" / "fold_1"});
  CHECK(paths(train::list_runs(tmp / "runs")) ==
        std::vector<fs::path>{tmp / "runs" / "a", tmp / "runs" / "b", tmp / "runs" / "cv" / "fold_1"});
  CHECK(paths(train::list_runs(tmp / "runs" / "a")) == std::vector<fs::path>{tmp / "runs" / "a"});
}
