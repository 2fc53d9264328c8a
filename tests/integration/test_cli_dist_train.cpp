// Issue 13: training under a job of two processes for the commands other than `bmd train`
// (tests_cli "bmd train with WORLD_SIZE=2*"): metastasis train (patient-grouped batches, a
// patient-level loss, head dropout), lumbar train (the localizer and the fold's model, masked
// labels) and bmd cv (every fold a run). With the weights held still (a learning rate of 1e-12
// moves no float32 weight), every loss is computed from the same weights, so two processes must
// give one process's losses, up to float summation order; rank 0 alone writes.
#include <catch2/catch.hpp>

#include "support/cli.hpp"
#include "support/ranks.hpp"

using namespace tomograd;
namespace fs = std::filesystem;
using test::q;
using test::run_command;

namespace {

/// Runs @p command + " --out one" as one process, then + " --out two" as two ranks.
void one_and_two(const std::string& command, const fs::path& one, const fs::path& two, const fs::path& logs) {
  auto r = run_command(command + " --out " + q(one));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  test::run_two_ranks(command + " --out " + q(two), logs);
}

/// The named columns of two history.csv files agree up to float summation order.
void check_same_losses(const fs::path& one, const fs::path& two, const std::vector<std::string>& columns) {
  const CsvTable a = CsvTable::read(one), b = CsvTable::read(two);
  REQUIRE(a.num_rows() == b.num_rows());
  REQUIRE(a.num_rows() > 0);
  for (const auto& c : columns) {
    const auto x = a.numbers(c), y = b.numbers(c);
    for (std::size_t i = 0; i < x.size(); ++i) {
      INFO(two.string() << " " << c << " row " << i + 1);
      REQUIRE(std::isfinite(y[i]));
      CHECK(y[i] == Approx(x[i]).epsilon(1e-4).margin(1e-6));
    }
  }
}

/// Lines of @p file that contain @p text.
std::size_t lines_with(const fs::path& file, const std::string& text) {
  std::size_t n = 0;
  std::istringstream in(read_file(file));
  for (std::string line; std::getline(in, line);) n += line.find(text) != std::string::npos;
  return n;
}

}  // namespace

TEST_CASE("metastasis train with WORLD_SIZE=2: one process's losses with the weights held still",
          "[cli][metastasis][distributed]") {
  test::TempDir tmp;
  test::synth("metastasis", tmp / "data", "--patients 10 --scale 0.125 --seed 4");
  // The recipe's patient-grouped batches, MAX-pooled patient loss and head dropout (0.4), with
  // BatchNorm over the global batch.
  const std::string train =
      test::metastasis_app() + " -q train --config " + q(test::source_path("configs/metastasis_resnet50.yaml")) +
      " --data " + q(tmp / "data") + " --set data.cache_dir=" + q(tmp / "cache") +
      " --set preprocess.resize.height=64 --set preprocess.resize.width=64 --set model.arch=resnet18"
      " --set model.head.hidden=32 --set train.epochs=2 --set train.loader.workers=0 --set eval.bootstrap=50"
      " --set eval.top_slices=3 --set train.device=cpu --set train.sync_batchnorm=true --set scheduler.min_lr=0"
      " --set \"curriculum=[{name: all, from_epoch: 0, trainable: ['*'], lr: {'': 1.0e-12}}]\"";
  one_and_two(train, tmp / "one", tmp / "two", tmp.path());
  check_same_losses(tmp / "one" / "history.csv", tmp / "two" / "history.csv", {"train_loss", "val_loss", "val_auc"});
  CHECK(read_file(tmp / "two" / "splits.csv") == read_file(tmp / "one" / "splits.csv"));
  CHECK(lines_with(tmp / "two" / "train.log", "epoch 1/2 train_loss") == 1);
}

TEST_CASE("lumbar train with WORLD_SIZE=2: one process's localizer and fold losses with the weights held still",
          "[cli][lumbar][distributed]") {
  test::TempDir tmp;
  const std::string data = q(tmp / "rsna");
  test::synth("lumbar", tmp / "rsna", "--studies 8 --test-studies 2 --scale 0.125 --seed 5");
  const std::string train =
      test::lumbar_app() + " -q train --config " + q(test::source_path("configs/lumbar_sagittal.yaml")) +
      " --data " + data + " --fold 0 --set data.folds=2 --set train.epochs=2 --set localizer.epochs=2"
      " --set model.arch=simple_cnn --set 'model.simple_cnn={widths: [8, 16], hidden: 16, input_size: [32, 32]}'"
      " --set 'localizer.model.simple_cnn={widths: [8, 16], hidden: 16}' --set localizer.size=32"
      " --set train.device=cpu --set train.sync_batchnorm=true --set optim.lr=1e-12 --set localizer.lr=1e-12"
      " --set scheduler.min_lr=0";
  one_and_two(train, tmp / "one", tmp / "two", tmp.path());
  check_same_losses(tmp / "one" / "fold_0" / "history.csv", tmp / "two" / "fold_0" / "history.csv",
                    {"train_loss", "val_loss"});
  check_same_losses(tmp / "one" / "localizer" / "history.csv", tmp / "two" / "localizer" / "history.csv",
                    {"train_loss", "val_loss"});
  test::check_same_csv(tmp / "one" / "fold_0" / "oof.csv", tmp / "two" / "fold_0" / "oof.csv");
  CHECK(read_file(tmp / "two" / "folds.csv") == read_file(tmp / "one" / "folds.csv"));
  CHECK(read_file(tmp / "two" / "localizer" / "offsets.json") == read_file(tmp / "one" / "localizer" / "offsets.json"));
  // One process's files: every rank checked the run directory before rank 0 wrote, the input cache
  // was built once (each rank a share of the studies, RUN/inputs/<id>.pt), nothing else written.
  CHECK(test::files_under(tmp / "two") == test::files_under(tmp / "one"));
}

TEST_CASE("bmd cv with WORLD_SIZE=2: one process's folds with the weights held still", "[cli][bmd][distributed]") {
  test::TempDir tmp;
  test::synth("bmd", tmp / "cohort", "--patients 12 --scale 0.0625 --seed 3");
  const std::string cv =
      test::bmd_app() + " -q cv --config " + q(test::source_path("configs/bmd_resnet18.yaml")) + " --manifest " +
      q(tmp / "cohort" / "manifest.csv") + " --folds 2 --set data.cache_dir=" + q(tmp / "cache") +
      " --set preprocess.resize.height=32 --set preprocess.resize.width=32 --set slices.count=3"
      " --set data.batch_size=4 --set eval.bootstrap=50 --set train.loader.workers=0 --set train.epochs=2"
      " --set train.device=cpu --set train.sync_batchnorm=true --set optim.lr=1e-12 --set scheduler.min_lr=0"
      " --set model.pretrained.path=";
  one_and_two(cv, tmp / "one", tmp / "two", tmp.path());
  for (const char* fold : {"fold_1", "fold_2"}) {
    check_same_losses(tmp / "one" / fold / "history.csv", tmp / "two" / fold / "history.csv",
                      {"train_loss", "val_loss", "val_mae"});
  }
  test::check_same_csv(tmp / "one" / "oof_predictions.csv", tmp / "two" / "oof_predictions.csv");
}
