// TensorBoard event files, read back by an independent reader (tests/unit/train/read_tfevents.py:
// its own CRC-32C, message definitions from TensorFlow's protos, Debian's python3-protobuf).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/train/sampler.hpp"
#include "tomograd/train/tensorboard.hpp"
#include "tomograd/train/trainer.hpp"

using namespace tomograd;
using namespace tomograd::train;
namespace fs = std::filesystem;
using Catch::Contains;

namespace {

test::CommandResult read_events(const fs::path& file) {
  const std::string script = std::string(TOMOGRAD_SOURCE_DIR) + "/tests/unit/train/read_tfevents.py";
  return test::run_command("/usr/bin/python3 " + test::shell_quote(script) + " " + test::shell_quote(file.string()));
}

}  // namespace

TEST_CASE("CRC-32C and its mask match published check values", "[train]") {
  // RFC 3720 (iSCSI), appendix B.4: CRC-32C of "123456789" is 0xE3069283; 32 zero bytes give 0x8A9136AA.
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  const std::string zeros(32, '\0');
  CHECK(crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
  const uint32_t c = 0xE3069283u;
  CHECK(masked_crc32c("123456789", 9) == static_cast<uint32_t>(((c >> 15) | (c << 17)) + 0xa282ead8u));
}

TEST_CASE("images for TensorBoard: min-max scaling, shapes, PNG errors", "[train]") {
  Image8 g = to_image8(torch::tensor({{0.0, 1.0}, {2.0, 4.0}}));
  CHECK(g.channels == 1);
  CHECK(g.height == 2);
  CHECK(g.pixels == std::vector<uint8_t>{0, 64, 128, 255});
  Image8 flat = to_image8(torch::full({1, 2, 2}, 3.0));
  CHECK(flat.pixels == std::vector<uint8_t>(4, 128));
  Image8 rgb = to_image8(torch::tensor({10, 20, 30}, torch::kUInt8).view({3, 1, 1}));
  CHECK(rgb.pixels == std::vector<uint8_t>{10, 20, 30});  // uint8 as is, channels last
  CHECK_THROWS_WITH(to_image8(torch::zeros({2, 4, 4})), Contains("expected [H,W], [1,H,W] or [3,H,W]"));
  CHECK_THROWS_WITH(encode_png({2, 2, 2, std::vector<uint8_t>(8)}), Contains("2 channels"));
  CHECK_THROWS_WITH(encode_png({2, 2, 1, std::vector<uint8_t>(3)}), Contains("3 pixel bytes for a 2x2x1 image"));
  CHECK(encode_png(g).compare(0, 8, "\x89PNG\r\n\x1a\n") == 0);
}

TEST_CASE("TensorBoardWriter records read back with an independent reader", "[train]") {
  test::TempDir tmp;
  fs::path file;
  {
    TensorBoardWriter w(tmp / "tensorboard");
    file = w.path();
    w.scalar("loss/train", 0.75, 1);
    w.scalar("loss/train", 0.5, 2);
    w.scalar("metrics/val_auc", 0.8125, 2);
    w.image("inputs/preview", {2, 3, 1, {0, 10, 20, 30, 40, 255}}, 0);
    w.image("curves/roc", {1, 2, 3, {255, 0, 0, 0, 0, 255}}, 3);
  }
  CHECK(file.parent_path() == tmp / "tensorboard");
  CHECK_THAT(file.filename().string(), Catch::StartsWith("events.out.tfevents."));
  // A second writer in the same second gets its own file.
  { TensorBoardWriter again(tmp / "tensorboard"); CHECK(again.path() != file); }

  auto r = read_events(file);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["file_version"] == "brain.Event:2");
  CHECK(j["records"] == 6);
  REQUIRE(j["scalars"].size() == 3);
  CHECK(j["scalars"][0] == nlohmann::json::array({"loss/train", 1, 0.75}));
  CHECK(j["scalars"][1][2] == 0.5);
  CHECK(j["scalars"][2] == nlohmann::json::array({"metrics/val_auc", 2, 0.8125}));  // exact in float32
  REQUIRE(j["images"].size() == 2);
  CHECK(j["images"][0]["tag"] == "inputs/preview");
  CHECK(j["images"][0]["height"] == 2);
  CHECK(j["images"][0]["width"] == 3);
  CHECK(j["images"][0]["pixels"] == std::vector<int>{0, 10, 20, 30, 40, 255});
  CHECK(j["images"][1]["colorspace"] == 3);
  CHECK(j["images"][1]["step"] == 3);
  CHECK(j["images"][1]["pixels"] == std::vector<int>{255, 0, 0, 0, 0, 255});

  // The reader really checks the CRCs: one flipped byte in a record's data is caught.
  std::string bytes = read_file(file);
  const auto at = bytes.find("val_auc");
  REQUIRE(at != std::string::npos);
  bytes[at] = 'V';
  write_file_atomic(tmp / "corrupt", bytes);
  auto bad = read_events(tmp / "corrupt");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Contains("record 3") && Contains("data CRC mismatch"));
}

TEST_CASE("TensorBoardWriter names the folder it cannot create", "[train]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "blocker", "a file, not a folder");
  CHECK_THROWS_AS(TensorBoardWriter(tmp / "blocker" / "tensorboard"), Error);
}

namespace {

// A tiny binary task on 6x6 one-channel images: label 1 when the image's mean is positive.
class BinaryImages : public Dataset {
 public:
  BinaryImages(int n, uint64_t seed) {
    torch::manual_seed(seed);
    x_ = torch::randn({n, 1, 6, 6});
    y_ = (x_.mean({1, 2, 3}) > 0).to(torch::kFloat32).unsqueeze(1);
  }
  std::size_t size() const override { return static_cast<std::size_t>(x_.size(0)); }
  Sample get(std::size_t i, uint64_t) const override {
    return {x_[static_cast<int64_t>(i)], y_[static_cast<int64_t>(i)], {}, {}, patient_of(i)};
  }
  std::string patient_of(std::size_t i) const override { return "P" + std::to_string(i); }

 private:
  torch::Tensor x_, y_;
};

struct LinearNetImpl : torch::nn::Module {
  LinearNetImpl() {
    body = register_module("body", torch::nn::Linear(36, 8));
    head = register_module("head", torch::nn::Linear(8, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) { return head(torch::relu(body(x.flatten(1)))); }
  torch::nn::Linear body{nullptr}, head{nullptr};
};
TORCH_MODULE(LinearNet);

}  // namespace

TEST_CASE("every training run writes TensorBoard events that match history.csv", "[train]") {
  torch::set_num_threads(1);
  test::TempDir tmp;
  BinaryImages train(24, 1), val(16, 2);
  RandomSampler ts(train.size(), 8, true, 3), vs(val.size(), 8, false, 0);
  LinearNet net;
  TrainerSetup setup;
  setup.module = net.ptr();
  setup.forward = [net](const Batch& b) mutable { return net->forward(b.input); };
  LossOptions loss;
  loss.name = "bce";
  setup.loss = make_loss(loss);
  setup.optim.lr = 1e-2;
  setup.curriculum = Curriculum({{0, "all", {"*"}, {{"body.", 2e-3}}}});  // two parameter groups
  setup.options.epochs = 3;
  setup.options.device = "cpu";
  setup.options.show_progress = false;
  setup.options.monitor = "val_accuracy";
  setup.options.monitor_mode = "max";
  setup.run_dir = tmp / "run";
  Trainer trainer(std::move(setup));
  trainer.fit(train, ts, &val, &vs, [](const EvalOutputs& e) {
    const double acc = ((e.outputs > 0).to(torch::kFloat32) == e.targets).to(torch::kFloat32).mean().item<double>();
    return std::map<std::string, double>{{"val_accuracy", acc}};
  });

  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(tmp / "run" / "tensorboard")) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  auto r = read_events(files[0]);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.out);
  std::map<std::string, std::map<int64_t, double>> scalars;
  for (const auto& s : j["scalars"]) scalars[s[0].get<std::string>()][s[1].get<int64_t>()] = s[2].get<double>();

  const CsvTable h = CsvTable::read(tmp / "run" / "history.csv");
  REQUIRE(h.num_rows() == 3);
  const auto epochs = h.numbers("epoch");
  int compared = 0;
  for (const auto& col : h.header()) {
    if (col == "epoch" || col == "seconds") continue;  // seconds: TensorBoard has wall time
    INFO("history.csv column " << col);
    const auto values = h.numbers(col);
    REQUIRE(scalars.count("epoch/" + col) == 1);
    for (std::size_t e = 0; e < values.size(); ++e) {
      const auto step = static_cast<int64_t>(epochs[e]);
      REQUIRE(scalars["epoch/" + col].count(step) == 1);
      CHECK(scalars["epoch/" + col][step] == Approx(values[e]).epsilon(1e-5).margin(1e-7));
      ++compared;
    }
  }
  CHECK(compared == 3 * 6);  // train_loss, val_loss, val_accuracy, lr, samples_per_s, data_wait
  // The learning rate of each group; history.csv's lr is the highest of them.
  REQUIRE(scalars.count("lr/body.") == 1);
  REQUIRE(scalars.count("lr/default") == 1);
  for (int64_t e = 0; e < 3; ++e) {
    CHECK(scalars["lr/body."][e] == Approx(2e-3).epsilon(1e-5));
    CHECK(scalars["epoch/lr"][e] == Approx(std::max(scalars["lr/body."][e], scalars["lr/default"][e])).epsilon(1e-5));
  }
  // One loss per optimizer step: 24 samples in batches of 8, 3 epochs.
  CHECK(scalars["train/step_loss"].size() == 9);
  CHECK(scalars["train/step_loss"].rbegin()->first == 9);
  // Input previews at the start, ROC and PR curves of each validation pass.
  std::map<std::string, int> images;
  for (const auto& im : j["images"]) ++images[im["tag"].get<std::string>()];
  CHECK(images["inputs/sample_0"] == 1);
  CHECK(images["inputs/sample_3"] == 1);
  CHECK(images["val/roc_curve"] == 3);
  CHECK(images["val/pr_curve"] == 3);
}

TEST_CASE("binary validation curves per patient: each patient scored by its highest slice", "[train]") {
  // Two slices per patient: P1 (positive) has one high slice, P2 (negative) has a moderate one.
  const auto p = patient_max_scores({0.1, 0.9, 0.6, 0.2, 0.3, 0.3}, {1, 1, 0, 0, 1, 1},
                                    {"P1", "P1", "P2", "P2", "P3", "P3"});
  CHECK(p.patient_ids == std::vector<std::string>{"P1", "P2", "P3"});
  CHECK(p.scores == std::vector<double>{0.9, 0.6, 0.3});
  CHECK(p.labels == std::vector<int>{1, 0, 1});
  CHECK_THROWS_WITH(patient_max_scores({0.1}, {1, 0}, {"P1"}), Contains("expected one of each per sample"));

  // Through the sink: patient curves only when some patient has several samples.
  test::TempDir tmp;
  EvalOutputs slices;
  slices.outputs = torch::tensor({-2.0, 2.0, 0.5, -1.0, -0.5, -0.7}).reshape({6, 1});
  slices.targets = torch::tensor({1.0, 1.0, 0.0, 0.0, 1.0, 1.0}).reshape({6, 1});
  slices.patient_ids = {"P1", "P1", "P2", "P2", "P3", "P3"};
  EvalOutputs single = slices;
  single.patient_ids = {"A", "B", "C", "D", "E", "F"};
  {
    TensorBoardSink sink(tmp / "tb", nullptr, {});
    sink.on_validation(0, slices);
    sink.on_validation(1, single);
    sink.writer().flush();
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(tmp / "tb")) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  auto r = read_events(files[0]);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto events = nlohmann::json::parse(r.out);
  std::map<std::string, std::vector<int64_t>> steps;
  for (const auto& im : events["images"]) {
    steps[im["tag"].get<std::string>()].push_back(im["step"].get<int64_t>());
  }
  CHECK(steps["val/roc_curve"] == std::vector<int64_t>{0, 1});
  CHECK(steps["val/roc_curve_patient_max"] == std::vector<int64_t>{0});
  CHECK(steps["val/pr_curve_patient_max"] == std::vector<int64_t>{0});
}
