#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/trainer.hpp"

using namespace tomograd;
using namespace tomograd::train;
namespace fs = std::filesystem;

namespace {

struct TinyNetImpl : torch::nn::Module {
  explicit TinyNetImpl(int64_t hidden = 16) {
    fc1 = register_module("fc1", torch::nn::Linear(4, hidden));
    drop = register_module("drop", torch::nn::Dropout(0.2));
    fc2 = register_module("fc2", torch::nn::Linear(hidden, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) { return fc2(drop(torch::relu(fc1(x)))); }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  torch::nn::Dropout drop{nullptr};
};
TORCH_MODULE(TinyNet);

// y = sum of inputs, plus a "noise" input that augmentation perturbs from the sample seed.
class RegressionSet : public Dataset {
 public:
  explicit RegressionSet(int n, uint64_t seed) {
    torch::manual_seed(seed);
    x_ = torch::randn({n, 4});
    y_ = x_.sum(1, true);
  }
  std::size_t size() const override { return static_cast<std::size_t>(x_.size(0)); }
  Sample get(std::size_t i, uint64_t seed) const override {
    Sample s;
    s.input = x_[static_cast<int64_t>(i)] + 0.01 * static_cast<double>(seed % 7);
    s.target = y_[static_cast<int64_t>(i)];
    s.patient_id = "P" + std::to_string(i / 2);
    return s;
  }
  std::string patient_of(std::size_t i) const override { return "P" + std::to_string(i / 2); }

 private:
  torch::Tensor x_, y_;
};

struct Run {
  TinyNet net;
  std::unique_ptr<Trainer> trainer;
};

Run make_run(const fs::path& dir, int epochs, int workers = 0) {
  torch::manual_seed(1);
  Run r{TinyNet(16), nullptr};
  OptimOptions o;
  o.lr = 1e-2;
  o.weight_decay = 1e-3;
  SchedulerOptions s;
  s.name = "plateau";
  s.patience = 1;
  TrainOptions t;
  t.epochs = epochs;
  t.device = "cpu";
  t.seed = 5;
  t.grad_clip = 1.0;
  t.show_progress = false;
  t.loader.workers = workers;
  t.extra_best = {{"neg_mse", "max"}};
  auto net = r.net;
  r.trainer = std::make_unique<Trainer>(
      net.ptr(), [net](const Batch& b) mutable { return net->forward(b.input); }, make_loss(LossOptions{}), o, s,
      Curriculum({{0, "fc2_only", {"fc2."}, {}}, {2, "all", {"*"}, {}}}), t, dir, "model: tiny\n");
  return r;
}

MetricsFn neg_mse() {
  return [](const EvalOutputs& e) {
    return std::map<std::string, double>{{"neg_mse", -(e.outputs - e.targets).pow(2).mean().item<double>()}};
  };
}

}  // namespace

TEST_CASE("trainer writes checkpoints, milestones, summary and history", "[train]") {
  torch::set_num_threads(1);
  set_progress_enabled(false);
  test::TempDir tmp;
  RegressionSet train(24, 1), val(8, 2);
  RandomSampler ts(train.size(), 4, true, 3), vs(val.size(), 4, false, 0);
  Run r = make_run(tmp / "run", 4);
  TrainSummary s = r.trainer->fit(train, ts, &val, &vs, neg_mse());
  CHECK(s.epochs_run == 4);
  for (const char* f : {"checkpoints/last.pt", "checkpoints/last.json", "checkpoints/best.pt", "checkpoints/final.pt",
                        "checkpoints/fc2_only.pt", "checkpoints/best_neg_mse.pt", "checkpoints/summary.csv",
                        "history.csv", "train.log"}) {
    INFO(f);
    CHECK(fs::exists(tmp / "run" / f));
  }
  auto h = CsvTable::read(tmp / "run" / "history.csv");
  CHECK(h.num_rows() == 4);
  for (const char* c : {"epoch", "train_loss", "val_loss", "neg_mse", "lr", "seconds", "samples_per_s"}) CHECK(h.has_column(c));
  auto meta = read_checkpoint_meta(tmp / "run" / "checkpoints" / "fc2_only.pt");
  CHECK(meta.epoch == 1);
  CHECK(meta.tag == "fc2_only");
  CHECK(meta.config_yaml == "model: tiny\n");
  // Training reduced the validation loss.
  auto first = h.numbers("val_loss").front(), last = h.numbers("val_loss").back();
  CHECK(last < first);
}

TEST_CASE("an interrupted and resumed run ends with the same weights", "[train]") {
  torch::set_num_threads(1);
  set_progress_enabled(false);
  test::TempDir tmp;
  RegressionSet train(24, 1), val(8, 2);
  RandomSampler ts(train.size(), 4, true, 3), vs(val.size(), 4, false, 0);
  Run straight = make_run(tmp / "a", 5, 2);
  straight.trainer->fit(train, ts, &val, &vs, neg_mse());

  Run first = make_run(tmp / "b", 5, 2);
  // Stop after 3 epochs (through the epochs option of a first trainer), then resume.
  {
    Run partial = make_run(tmp / "b", 3, 2);
    partial.trainer->fit(train, ts, &val, &vs, neg_mse());
  }
  torch::manual_seed(12345);  // the resumed run must not depend on the global RNG at start
  first.trainer->fit(train, ts, &val, &vs, neg_mse(), nullptr, /*resume=*/true);
  auto pa = straight.net->named_parameters(), pb = first.net->named_parameters();
  for (const auto& p : pa) {
    INFO(p.key());
    CHECK(torch::equal(p.value(), pb[p.key()]));
  }
  auto ha = CsvTable::read(tmp / "a" / "history.csv"), hb = CsvTable::read(tmp / "b" / "history.csv");
  CHECK(ha.numbers("val_loss") == hb.numbers("val_loss"));
}

TEST_CASE("early stopping ends training when the monitor stops improving", "[train]") {
  torch::set_num_threads(1);
  set_progress_enabled(false);
  test::TempDir tmp;
  RegressionSet train(8, 1), val(8, 2);
  RandomSampler ts(train.size(), 4, true, 3), vs(val.size(), 4, false, 0);
  TinyNet net(4);
  OptimOptions o;
  o.lr = 1e-9;  // effectively frozen: the loss cannot improve after epoch 1
  TrainOptions t;
  t.epochs = 20;
  t.device = "cpu";
  t.early_stopping_patience = 2;
  t.show_progress = false;
  Trainer trainer(net.ptr(), [net](const Batch& b) mutable { return net->forward(b.input); }, make_loss(LossOptions{}), o,
                  SchedulerOptions{}, Curriculum{}, t, tmp / "run");
  net->eval();  // no dropout noise: val loss stays flat
  auto s = trainer.fit(train, ts, &val, &vs);
  CHECK(s.stopped_early);
  CHECK(s.epochs_run <= 4);
}

TEST_CASE("a crash while writing a checkpoint leaves the previous one intact", "[train]") {
  torch::set_num_threads(1);
  test::TempDir tmp;
  const fs::path ckpt = tmp / "last.pt";
  TinyNet net(256);
  CheckpointMeta meta;
  meta.epoch = 1;
  save_checkpoint(ckpt, *net, nullptr, meta);
  const std::string original = read_file(ckpt);
  int killed_mid_write = 0;
  for (int attempt = 0; attempt < 6; ++attempt) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Child: keep rewriting the checkpoint with different weights until killed.
      TinyNet other(256);
      CheckpointMeta m;
      m.epoch = 2;
      for (;;) save_checkpoint(ckpt, *other, nullptr, m);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + 7 * attempt));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    // Whatever moment the kill hit, the file is a complete checkpoint (old or new).
    TinyNet probe(256);
    CheckpointMeta loaded = load_checkpoint(ckpt, *probe, nullptr);
    CHECK((loaded.epoch == 1 || loaded.epoch == 2));
    for (const auto& e : fs::directory_iterator(tmp.path())) {
      if (e.path().filename().string().rfind(".tmp-", 0) == 0) ++killed_mid_write;
    }
    // Restore the original for the next attempt.
    write_file_atomic(ckpt, original, Overwrite::kAllow);
  }
  INFO("temporary files left by killed writers: " << killed_mid_write);
  SUCCEED();
}

TEST_CASE("loading a truncated or foreign checkpoint is a clear error", "[train]") {
  test::TempDir tmp;
  TinyNet net(8);
  save_checkpoint(tmp / "c.pt", *net, nullptr, CheckpointMeta{});
  std::string bytes = read_file(tmp / "c.pt");
  // One line: the file and what is wrong with it (the zip check runs before LibTorch's reader).
  auto one_line_error = [&](const fs::path& file) {
    try {
      load_checkpoint(file, *net, nullptr);
    } catch (const IoError& e) {
      return std::string(e.what());
    }
    FAIL("no IoError for " << file);
    return std::string();
  };
  write_file_atomic(tmp / "cut.pt", bytes.substr(0, bytes.size() / 2));
  const std::string cut = one_line_error(tmp / "cut.pt");
  CHECK_THAT(cut, Catch::StartsWith("cannot read checkpoint " + (tmp / "cut.pt").string() + ": ") &&
                      Catch::Contains("no zip end-of-central-directory record") &&
                      Catch::Contains("(truncated or not a zip?)"));
  CHECK(cut.find('\n') == std::string::npos);
  write_file_atomic(tmp / "text.pt", "hello");
  const std::string text = one_line_error(tmp / "text.pt");
  CHECK_THAT(text, Catch::StartsWith("cannot read checkpoint " + (tmp / "text.pt").string() + ": ") &&
                       Catch::Contains("zip archive of 5 bytes, expected at least the 22-byte end-of-central-directory record"));
  CHECK(text.find('\n') == std::string::npos);
  // A hostile checkpoint: its first entry declares 4 GiB (miniz would allocate that before
  // reading a byte); the central directory entry's uncompressed size is at +24 (APPNOTE 4.3.12).
  std::string big = bytes;
  const size_t central = big.find(std::string("PK\x01\x02", 4));
  REQUIRE(central != std::string::npos);
  for (int i = 0; i < 4; ++i) big[central + 24 + i] = static_cast<char>(i == 0 ? 0xfe : 0xff);
  write_file_atomic(tmp / "big.pt", big);
  const std::string hostile = one_line_error(tmp / "big.pt");
  CHECK_THAT(hostile, Catch::StartsWith("cannot read checkpoint " + (tmp / "big.pt").string() + ": zip entry '") &&
                          Catch::Contains("uncompressed size 4294967294 of a stored entry, expected its compressed size"));
  CHECK(hostile.find('\n') == std::string::npos);
  CHECK_THROWS_WITH(read_checkpoint_meta(tmp / "big.pt"), Catch::Contains("uncompressed size 4294967294"));
  TinyNet bigger(9);
  CHECK_THROWS_WITH(load_checkpoint(tmp / "c.pt", *bigger, nullptr), Catch::Contains("does not match"));
  CHECK_THROWS_AS(load_checkpoint(tmp / "missing.pt", *net, nullptr), IoError);
}

TEST_CASE("checkpoint metadata keeps undefined (NaN) metrics through JSON", "[train]") {
  CheckpointMeta m;
  m.epoch = 3;
  m.tag = "best";
  m.metrics = {{"val_loss", 0.25}, {"val_r2", std::nan("")}};  // R² of one patient is undefined
  m.best_value = std::nan("");
  m.extra_best = {{"val_r2", std::nan("")}};
  const std::string text = to_json(m);
  CHECK(text.find("null") != std::string::npos);
  const CheckpointMeta back = meta_from_json(text, "meta.json");
  CHECK(back.epoch == 3);
  CHECK(back.metrics.at("val_loss") == 0.25);
  CHECK(std::isnan(back.metrics.at("val_r2")));
  CHECK(std::isnan(back.best_value));
  CHECK(std::isnan(back.extra_best.at("val_r2")));
}

TEST_CASE("freeze_batchnorm keeps BatchNorm running statistics while the rest trains", "[train]") {
  test::TempDir tmp;
  struct NetImpl : torch::nn::Module {
    NetImpl() {
      fc = register_module("fc", torch::nn::Linear(4, 8));
      bn = register_module("bn", torch::nn::BatchNorm1d(8));
      out = register_module("out", torch::nn::Linear(8, 1));
    }
    torch::Tensor forward(const torch::Tensor& x) { return out(torch::relu(bn(fc(x)))); }
    torch::nn::Linear fc{nullptr}, out{nullptr};
    torch::nn::BatchNorm1d bn{nullptr};
  };
  for (bool freeze : {true, false}) {
    torch::manual_seed(2);
    auto net = std::make_shared<NetImpl>();
    const auto mean0 = net->bn->running_mean.clone();
    const auto w0 = net->fc->weight.clone();
    TrainOptions t;
    t.epochs = 1;
    t.device = "cpu";
    t.show_progress = false;
    t.loader.workers = 0;
    t.freeze_batchnorm = freeze;
    Trainer trainer(net, [net](const Batch& b) { return net->forward(b.input); }, make_loss(LossOptions{}),
                    OptimOptions{}, SchedulerOptions{}, Curriculum{}, t, tmp / (freeze ? "frozen" : "free"));
    RegressionSet data(32, 3);
    RandomSampler sampler(data.size(), 8, true, 1);
    trainer.fit(data, sampler, nullptr, nullptr);
    CHECK_FALSE(torch::equal(net->fc->weight, w0));  // the rest trains either way
    CHECK(torch::equal(net->bn->running_mean, mean0) == freeze);
  }
}

namespace {
/// Records what the trainer reports to its sinks.
struct RecordingSink : TrainSink {
  std::vector<StepRecord> steps;
  std::vector<EpochRecord> epochs;
  void on_step(const StepRecord& s) override { steps.push_back(s); }
  void on_epoch(const EpochRecord& e) override { epochs.push_back(e); }
};

/// A trainer of a TinyNet on @p device writing to @p run, with a RecordingSink attached.
std::unique_ptr<Trainer> recording_trainer(const fs::path& run, const std::string& device, int epochs, int accumulate,
                                           std::shared_ptr<RecordingSink>& sink) {
  TinyNet net(4);
  TrainerSetup setup;
  setup.module = net.ptr();
  setup.forward = [net](const Batch& b) mutable { return net->forward(b.input); };
  setup.loss = make_loss(LossOptions{});
  setup.options.epochs = epochs;
  setup.options.accumulate = accumulate;
  setup.options.device = device;
  setup.options.show_progress = false;
  setup.run_dir = run;
  auto trainer = std::make_unique<Trainer>(std::move(setup));
  sink = std::make_shared<RecordingSink>();
  trainer->add_sink(sink);
  return trainer;
}
}  // namespace

TEST_CASE("a TrainSink receives every optimizer step and every epoch as history.csv has it", "[train]") {
  torch::set_num_threads(1);
  set_progress_enabled(false);
  test::TempDir tmp;
  RegressionSet train(12, 1), val(8, 2);
  RandomSampler ts(train.size(), 4, true, 3), vs(val.size(), 4, false, 0);
  std::shared_ptr<RecordingSink> sink;
  // accumulate 2, 3 batches per epoch: steps after batches 2 and 3.
  recording_trainer(tmp / "run", "cpu", 2, 2, sink)->fit(train, ts, &val, &vs);
  REQUIRE(sink->steps.size() == 4);
  for (std::size_t i = 0; i < sink->steps.size(); ++i) {
    CHECK(sink->steps[i].global_step == static_cast<int64_t>(i + 1));
    CHECK(sink->steps[i].epoch == static_cast<int>(i / 2));
    CHECK(std::isfinite(sink->steps[i].loss));
    CHECK(sink->steps[i].lr > 0);
  }
  CHECK(sink->steps[0].samples == 8);
  CHECK(sink->steps[1].samples == 4);
  REQUIRE(sink->epochs.size() == 2);
  const CsvTable h = CsvTable::read(tmp / "run" / "history.csv");
  const auto train_loss = h.numbers("train_loss"), val_loss = h.numbers("val_loss");
  for (std::size_t e = 0; e < 2; ++e) {
    CHECK(sink->epochs[e].epoch == static_cast<int>(e));
    CHECK(sink->epochs[e].global_step == static_cast<int64_t>(2 * (e + 1)));
    CHECK(sink->epochs[e].train_loss == Approx(train_loss[e]).epsilon(1e-6));
    CHECK(sink->epochs[e].val_loss == Approx(val_loss[e]).epsilon(1e-6));
  }
  // The epoch's training loss is the mean of its batches' losses; the steps saw the same batches.
  const double steps_mean = (sink->steps[0].loss * 2 + sink->steps[1].loss) / 3.0;
  CHECK(sink->epochs[0].train_loss == Approx(steps_mean).epsilon(1e-6));
}

TEST_CASE("on CUDA the sinks get every step, their losses read back in groups", "[train][gpu]") {
  if (compat::cuda_device_count() == 0) {
    WARN("no CUDA device: [gpu] test skipped");
    return;
  }
  set_progress_enabled(false);
  test::TempDir tmp;
  // 70 batches of 1: steps reported after batches 32, 64 and 70 (the epoch's end).
  RegressionSet train(70, 1);
  RandomSampler ts(train.size(), 1, true, 3);
  // The same training on the CPU, whose steps are reported one by one: the same initial weights.
  std::shared_ptr<RecordingSink> sink, cpu;
  torch::manual_seed(5);
  auto on_gpu = recording_trainer(tmp / "run", "cuda", 1, 1, sink);
  torch::manual_seed(5);
  auto on_cpu = recording_trainer(tmp / "cpu", "cpu", 1, 1, cpu);
  on_gpu->fit(train, ts, nullptr, nullptr);
  on_cpu->fit(train, ts, nullptr, nullptr);
  REQUIRE(sink->steps.size() == 70);
  REQUIRE(cpu->steps.size() == 70);
  // Each step's own loss, in its place in the group: the CPU run's step by step (float32 on two devices).
  for (std::size_t i = 0; i < 70; ++i) CHECK(sink->steps[i].loss == Approx(cpu->steps[i].loss).epsilon(1e-4));
  double sum = 0;
  for (std::size_t i = 0; i < sink->steps.size(); ++i) {
    CHECK(sink->steps[i].global_step == static_cast<int64_t>(i + 1));
    CHECK(sink->steps[i].samples == 1);
    sum += sink->steps[i].loss;
  }
  REQUIRE(sink->epochs.size() == 1);
  CHECK(sink->epochs[0].train_loss == Approx(sum / 70).epsilon(1e-6));
}
