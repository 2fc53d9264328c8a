// tomograd bench: runs real steps and reports finite throughput.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/fixtures.hpp"

using tomograd::test::run_command;
using tomograd::test::shell_quote;

TEST_CASE("tomograd bench train and infer report throughput", "[cli]") {
  const std::string app = shell_quote(TOMOGRAD_APP);
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
