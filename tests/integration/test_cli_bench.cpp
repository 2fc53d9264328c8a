// tomograd bench: runs real steps and reports finite throughput.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "support/cli.hpp"

using tomograd::test::run_command;
using tomograd::test::shell_quote;
using tomograd::test::tomograd_app;

TEST_CASE("tomograd bench train and infer report throughput", "[cli]") {
  const std::string app = tomograd_app();
  for (const char* mode : {"train", "infer"}) {
    INFO(mode);
    auto r = run_command(app + " bench " + mode +
                         " --model resnet18 --in-channels 1 --size 32 --batch 2 --steps 2 --warmup 0 --device cpu --json");
    REQUIRE(r.exit_code == 0);
    auto j = nlohmann::json::parse(r.out);
    CHECK(j["mode"] == mode);
    CHECK(j["samples_per_s"].get<double>() > 0);
    CHECK(j["peak_memory_mb"].get<double>() > 0);
  }
  auto bad = run_command(app + " bench train --model resnet19");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.err, Catch::Contains("valid names"));
  auto cuda = run_command(app + " bench train --device cuda:7 --size 32 --batch 1 --steps 1");
  CHECK(cuda.exit_code == 1);
  CHECK_THAT(cuda.err, Catch::Contains("not available"));
}

TEST_CASE("a LibTorch failure is one line naming the command, never a stack trace", "[cli]") {
  const std::string app = tomograd_app();
  // A 0x0 input is smaller than ResNet's 7x7 stem: LibTorch's convolution throws a c10::Error.
  auto r = run_command(app + " bench infer --model resnet18 --size 0 --batch 1 --steps 1 --warmup 0 --device cpu");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("tomograd bench infer: LibTorch failed: ") &&
                        Catch::Contains("Kernel size can't be greater than actual input size"));
  CHECK_THAT(r.err, !Catch::Contains("Exception raised from") && !Catch::Contains("frame #"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  // An allocation far beyond any machine (3 x 10^5 x 10^5 floats per sample, 10^4 samples).
  auto big = run_command(app + " bench infer --model resnet18 --size 100000 --batch 10000 --steps 1 --warmup 0 --device cpu");
  CHECK(big.exit_code == 1);
  CHECK_THAT(big.err, Catch::Contains("tomograd bench infer: ") && Catch::Contains("allocate"));
  CHECK_THAT(big.err, !Catch::Contains("frame #"));
  CHECK(std::count(big.err.begin(), big.err.end(), '\n') == 1);
  // The trace is kept for the debug log.
  auto dbg = run_command(app + " --log-level debug bench infer --model resnet18 --size 0 --batch 1 --steps 1 "
                               "--warmup 0 --device cpu");
  CHECK(dbg.exit_code == 1);
  CHECK_THAT(dbg.err, Catch::Contains("Exception raised from"));
}

TEST_CASE("tomograd bench takes one intra-op thread per physical core unless OMP_NUM_THREADS or --threads is set",
          "[cli]") {
  const std::string app = tomograd_app();
  const std::string run = " bench infer --model simple_cnn --in-channels 1 --size 256 --batch 1 --steps 1 --warmup 0 "
                          "--device cpu --json";
  auto cores = run_command("/usr/bin/python3 " + shell_quote(tomograd::test::source_path("tests/integration/physical_cores.py").string()));
  REQUIRE(cores.exit_code == 0);
  const int expected = std::stoi(cores.out);
  auto threads = [&](const std::string& env, const std::string& extra) {
    auto r = run_command("env -u OMP_NUM_THREADS -u LOCAL_WORLD_SIZE -u WORLD_SIZE " + env + " " + app + run + extra);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out)["threads"].get<int>();
  };
  CHECK(threads("", "") == expected);
  CHECK(threads("OMP_NUM_THREADS=1", "") == 1);
  CHECK(threads("", " --threads 3") == 3);
  // Two ranks started by hand on this machine share its cores.
  CHECK(threads("WORLD_SIZE=2 MASTER_ADDR=127.0.0.1", "") == std::max(1, expected / 2));
}
