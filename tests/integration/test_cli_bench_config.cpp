// tomograd bench --config: a run configuration's network and input (the lumbar 3D recipes).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "support/cli.hpp"

using tomograd::test::q;
using tomograd::test::run_command;
using tomograd::test::source_path;
using tomograd::test::tomograd_app;

TEST_CASE("tomograd bench train --config takes the recipe's network, head and input shape", "[cli]") {
  const std::string app = tomograd_app();
  // The lumbar SegResNet recipe: 2 channels, 16 x 64 x 64 (input.volume_shape), a head with 4
  // metadata inputs (the bench feeds zeros). One sample, one step: the shape is what is checked.
  auto r = run_command(app + " bench train --config " + q(source_path("configs/lumbar_3d_segresnet.yaml")) +
                       " --batch 1 --steps 1 --warmup 0 --device cpu --json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["model"] == "segresnet3d");
  CHECK(j["in_channels"] == 2);
  CHECK(j["depth"] == 16);
  CHECK(j["size"] == 64);
  CHECK(j["width"] == 64);
  CHECK(j["batch"] == 1);  // --batch beats data.batch_size
  CHECK(j["samples_per_s"].get<double>() > 0);

  // --depth/--size given on the command line beat input.volume_shape.
  r = run_command(app + " bench infer --config " + q(source_path("configs/lumbar_3d_segresnet.yaml")) +
                  " --batch 1 --depth 8 --size 32 --steps 1 --warmup 0 --device cpu --json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["depth"] == 8);
  CHECK(j["width"] == 32);
  r = run_command(app + " bench infer --config " + q(source_path("configs/lumbar_3d_segresnet.yaml")) +
                  " --batch 1 --depth 8 --steps 1 --warmup 0 --device cpu --json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  j = nlohmann::json::parse(r.out);
  CHECK(j["depth"] == 8);  // each dimension on its own: H x W still the config's
  CHECK(j["size"] == 64);

  // A file without a model section, and a bad key inside one: one line naming the file and key.
  tomograd::test::TempDir tmp;
  const auto no_model = tmp / "no_model.yaml", bad_key = tmp / "bad_key.yaml";
  std::ofstream(no_model) << "train: {epochs: 1}\n";
  std::ofstream(bad_key) << "model: {arch: segresnet3d, in_chanels: 2}\n";
  r = run_command(app + " bench train --config " + q(no_model) + " --steps 1");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("no_model.yaml: no 'model' section"));
  r = run_command(app + " bench train --config " + q(bad_key) + " --steps 1");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("bad_key.yaml") && Catch::Contains("in_chanels"));
  CHECK_THAT(r.err, !Catch::Contains("frame #"));
}
