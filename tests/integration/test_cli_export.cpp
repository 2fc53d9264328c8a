// tomograd export: a run directory built in the test (config.yaml + a checkpoint of a fresh
// model) exported to TorchScript, reloaded and compared; refusals and errors.
#include <catch2/catch.hpp>
#include <torch/script.h>
#include <torch/torch.h>

#include "support/cli.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/config.hpp"
#include "tomograd/models/registry.hpp"
#include "tomograd/train/checkpoint.hpp"

using namespace tomograd;
namespace fs = std::filesystem;
using test::run_command;
using test::shell_quote;

namespace {

std::string app() { return test::tomograd_app(); }

// A tiny SimpleCNN: two blocks on 32×32 slices, 8×8×8 flattened into 16 hidden units.
std::string config_yaml(const std::string& head) {
  return R"(
model:
  arch: simple_cnn
  in_channels: 1
  head: )" + head + R"(
  simple_cnn: {widths: [4, 8], input_size: [32, 32], hidden: 16}
preprocess:
  resize: {height: 32, width: 32}
train:
  epochs: 1
)";
}

// Writes RUN/config.yaml and RUN/checkpoints/best.pt of a freshly initialized model (BatchNorm
// statistics moved off their defaults) and returns that model, in eval mode.
models::ModelPtr make_run(const fs::path& run, const std::string& head = "{type: regression, num_outputs: 1}") {
  const std::string config = config_yaml(head);
  ensure_directory(run / "checkpoints");
  write_file_atomic(run / "config.yaml", config);
  models::register_builtin_models();
  ConfigReader root(YAML::Load(config), "config.yaml");
  ConfigReader section = root.child("model");
  models::ModelPtr model = models::create_model(models::decode_model_spec(section));
  torch::manual_seed(5);
  model->train();
  {
    torch::NoGradGuard no_grad;
    for (int i = 0; i < 3; ++i) model->forward(torch::randn({4, 1, 32, 32}) * 2 + 1);
  }
  model->eval();
  train::CheckpointMeta meta;
  meta.epoch = 0;
  meta.tag = "best";
  train::save_checkpoint(run / "checkpoints" / "best.pt", *model, nullptr, meta);
  return model;
}

}  // namespace

TEST_CASE("tomograd export writes a TorchScript file that reproduces the model", "[cli]") {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  models::ModelPtr model = make_run(run);
  const fs::path out = tmp / "exported" / "model.pt";

  auto r = run_command(app() + " export " + shell_quote(run.string()) + " --out " + shell_quote(out.string()));
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::is_regular_file(out));
  CHECK_THAT(r.out, Catch::Contains(out.string()) && Catch::Contains("[1, 1, 32, 32]") &&
                        Catch::Contains("max abs difference") && Catch::Contains("batch size: any"));

  // Another batch size than the traced one, compared with the C++ model in this process.
  torch::jit::Module loaded = torch::jit::load(out.string());
  loaded.eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({3, 1, 32, 32});
  const torch::Tensor got = loaded.forward({x}).toTensor();
  const torch::Tensor expected = model->forward(x);
  REQUIRE(got.sizes() == expected.sizes());
  CHECK(torch::allclose(got, expected, 1e-5, 1e-6));

  // The file is never overwritten without --force.
  const auto size_before = fs::file_size(out);
  auto again = run_command(app() + " export " + shell_quote(run.string()) + " --out " + shell_quote(out.string()));
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains(out.string()) && Catch::Contains("already exists") &&
                            Catch::Contains("--force"));
  CHECK(fs::file_size(out) == size_before);
  auto forced = run_command(app() + " export " + shell_quote(run.string()) + " --out " + shell_quote(out.string()) +
                            " --force --batch 2 --shape 1,32,32 --checkpoint " +
                            shell_quote((run / "checkpoints" / "best.pt").string()));
  INFO(forced.err);
  CHECK(forced.exit_code == 0);
  CHECK_THAT(forced.out, Catch::Contains("[2, 1, 32, 32]"));
}

TEST_CASE("tomograd export: a multi-output head, and the batch-size check is truthful", "[cli]") {
  test::TempDir tmp;
  const fs::path run = tmp / "run";
  models::ModelPtr model = make_run(run, "{type: multioutput, num_tasks: 3, num_classes: 4}");
  const fs::path out = tmp / "model.pt";
  auto r = run_command(app() + " export " + shell_quote(run.string()) + " --out " + shell_quote(out.string()) +
                       " --batch 2");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("output [2, 3, 4]"));
  torch::jit::Module loaded = torch::jit::load(out.string());
  loaded.eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor x2 = torch::randn({2, 1, 32, 32});
  CHECK(torch::allclose(loaded.forward({x2}).toTensor(), model->forward(x2), 1e-5, 1e-6));

  // Model::forward reshapes [N, T*C] with z.size(0), which a C++ trace turns into the constant
  // 2: whatever the model does, the reported batch size must be what the file accepts.
  const torch::Tensor x5 = torch::randn({5, 1, 32, 32});
  bool runs = false;
  try {
    const torch::Tensor got = loaded.forward({x5}).toTensor();
    runs = got.sizes() == model->forward(x5).sizes() && torch::allclose(got, model->forward(x5), 1e-5, 1e-6);
  } catch (const std::exception&) {
    runs = false;
  }
  if (runs) {
    CHECK_THAT(r.out, Catch::Contains("batch size: any"));
  } else {
    CHECK_THAT(r.out, Catch::Contains("batch size: 2 only"));
    CHECK_THAT(r.err, Catch::Contains("only runs at batch size 2"));
  }
}

TEST_CASE("tomograd export names the missing file or the option to pass", "[cli]") {
  test::TempDir tmp;
  const std::string out = " --out " + shell_quote((tmp / "m.pt").string());

  auto help = run_command(app() + " export --help");
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("Example") && Catch::Contains("--checkpoint") && Catch::Contains("--shape") &&
                           Catch::Contains("--batch") && Catch::Contains("--force"));
  CHECK(run_command(app() + " export " + shell_quote(tmp.path().string())).exit_code == 2);  // no --out

  auto no_run = run_command(app() + " export " + shell_quote((tmp / "nope").string()) + out);
  CHECK(no_run.exit_code == 1);
  CHECK_THAT(no_run.err, Catch::Contains("run directory") && Catch::Contains("nope") &&
                             Catch::Contains("does not exist"));

  const fs::path run = tmp / "run";
  ensure_directory(run / "checkpoints");
  auto no_config = run_command(app() + " export " + shell_quote(run.string()) + out);
  CHECK(no_config.exit_code == 1);
  CHECK_THAT(no_config.err, Catch::Contains((run / "config.yaml").string()) && Catch::Contains("does not exist"));

  make_run(run);
  auto no_ckpt = run_command(app() + " export " + shell_quote(run.string()) + out + " --checkpoint last");
  CHECK(no_ckpt.exit_code == 1);
  CHECK_THAT(no_ckpt.err, Catch::Contains((run / "checkpoints" / "last.pt").string()) &&
                              Catch::Contains("available: best"));

  auto bad_shape = run_command(app() + " export " + shell_quote(run.string()) + out + " --shape 1,16,32,32");
  CHECK(bad_shape.exit_code == 1);
  CHECK_THAT(bad_shape.err, Catch::Contains("2D model") && Catch::Contains("C,H,W"));
  auto bad_channels = run_command(app() + " export " + shell_quote(run.string()) + out + " --shape 3,32,32");
  CHECK(bad_channels.exit_code == 1);
  CHECK_THAT(bad_channels.err, Catch::Contains("1 input channels"));

  write_file_atomic(run / "config.yaml", "train: {epochs: 1}\n");
  auto no_model = run_command(app() + " export " + shell_quote(run.string()) + out);
  CHECK(no_model.exit_code == 1);
  CHECK_THAT(no_model.err, Catch::Contains((run / "config.yaml").string()) && Catch::Contains("'model:'"));

  write_file_atomic(run / "config.yaml", "model: {arch: resnet18, in_channels: 1, hidden_size: 3}\n");
  auto typo = run_command(app() + " export " + shell_quote(run.string()) + out);
  CHECK(typo.exit_code == 1);
  CHECK_THAT(typo.err, Catch::Contains("unknown key 'model.hidden_size'"));

  write_file_atomic(run / "config.yaml", "model: {arch: resnet18, in_channels: 1}\n");
  auto no_resize = run_command(app() + " export " + shell_quote(run.string()) + out);
  CHECK(no_resize.exit_code == 1);
  CHECK_THAT(no_resize.err, Catch::Contains("preprocess.resize") && Catch::Contains("--shape C,H,W"));

  write_file_atomic(run / "config.yaml", "model: {arch: resnet3d_10, in_channels: 1}\n");
  auto volume = run_command(app() + " export " + shell_quote(run.string()) + out);
  CHECK(volume.exit_code == 1);
  CHECK_THAT(volume.err, Catch::Contains("3D model") && Catch::Contains("--shape C,D,H,W"));
  CHECK_FALSE(fs::exists(tmp / "m.pt"));
}

TEST_CASE("tomograd export: a truncated, garbage or hostile checkpoint is one error line", "[cli]") {
  test::TempDir tmp;
  const fs::path run = tmp / "run", ckpt = run / "checkpoints" / "best.pt";
  make_run(run);
  const std::string bytes = read_file(ckpt);
  std::string big = bytes;  // the first central directory entry declares 4 GiB (APPNOTE 4.3.12: +24)
  const size_t central = big.find(std::string("PK\x01\x02", 4));
  REQUIRE(central != std::string::npos);
  for (int i = 0; i < 4; ++i) big[central + 24 + i] = static_cast<char>(i == 0 ? 0xfe : 0xff);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {bytes.substr(0, bytes.size() / 2), "no zip end-of-central-directory record"},
      {"garbage, not a checkpoint\n", "not a zip"},
      {big, "uncompressed size 4294967294 of a stored entry"}};
  for (const auto& [content, why] : cases) {
    INFO(why);
    write_file_atomic(ckpt, content, Overwrite::kAllow);
    auto r = run_command(app() + " export " + shell_quote(run.string()) + " --out " + shell_quote((tmp / "m.pt").string()));
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("cannot read checkpoint " + ckpt.string() + ": ") && Catch::Contains(why));
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(tmp / "m.pt"));
  }
}
