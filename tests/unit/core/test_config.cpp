#include <catch2/catch.hpp>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/config.hpp"

using namespace tomograd;

namespace {
struct OptimConfig {
  double lr = 1e-3;
  std::string name = "adamw";
};
struct DemoConfig {
  int epochs = 10;
  bool amp = false;
  std::vector<int> size{256, 256};
  OptimConfig optim;
};

DemoConfig decode(const YAML::Node& root, const std::string& source) {
  DemoConfig c;
  ConfigReader r(root, source);
  r.get("epochs", c.epochs).get("amp", c.amp).get("size", c.size);
  auto o = r.child("optim");
  o.get("lr", c.optim.lr).get("name", c.optim.name);
  o.finish();
  r.finish();
  return c;
}
}  // namespace

TEST_CASE("config decodes typed values and keeps defaults", "[core]") {
  test::TempDir tmp;
  write_file_atomic(tmp / "c.yaml", "epochs: 3\noptim:\n  lr: 0.5\n");
  auto c = decode(load_yaml_file(tmp / "c.yaml"), "c.yaml");
  CHECK(c.epochs == 3);
  CHECK(c.optim.lr == 0.5);
  CHECK(c.optim.name == "adamw");
  CHECK(c.size == std::vector<int>{256, 256});
}

TEST_CASE("config rejects unknown keys with file and dotted path", "[core]") {
  auto root = YAML::Load("epochs: 3\noptim:\n  lr: 0.5\n  momentm: 0.9\n");
  try {
    decode(root, "run.yaml");
    FAIL("no error for unknown key");
  } catch (const ConfigError& e) {
    std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("run.yaml"));
    CHECK_THAT(msg, Catch::Contains("optim.momentm"));
    CHECK_THAT(msg, Catch::Contains("lr"));
  }
  auto bad_type = YAML::Load("epochs: many\n");
  CHECK_THROWS_WITH(decode(bad_type, "x.yaml"),
                    Catch::Contains("'epochs' expected an integer, got 'many'"));
}

TEST_CASE("config overrides set nested values", "[core]") {
  auto root = YAML::Load("epochs: 3\n");
  apply_overrides(root, {"optim.lr=1e-4", "size=[128, 64]", "amp=true"});
  auto c = decode(root, "x.yaml");
  CHECK(c.optim.lr == Approx(1e-4));
  CHECK(c.size == std::vector<int>{128, 64});
  CHECK(c.amp);
  CHECK(c.epochs == 3);
  REQUIRE_THROWS_AS(apply_overrides(root, {"novalue"}), ConfigError);
  REQUIRE_THROWS_AS(apply_overrides(root, {"epochs.x=1"}), ConfigError);
  apply_overrides(root, {"optim.typo=1"});
  CHECK_THROWS_WITH(decode(root, "x.yaml"), Catch::Contains("optim.typo"));
}

TEST_CASE("config file errors name the file and line", "[core]") {
  test::TempDir tmp;
  CHECK_THROWS_WITH(load_yaml_file(tmp / "missing.yaml"), Catch::Contains("missing.yaml"));
  write_file_atomic(tmp / "bad.yaml", "a: [1, 2\nb: 3\n");
  CHECK_THROWS_WITH(load_yaml_file(tmp / "bad.yaml"), Catch::Contains("line"));
}
