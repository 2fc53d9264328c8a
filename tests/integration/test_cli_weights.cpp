// tomograd weights inspect: a torchvision .pth written by python3-torchvision, a safetensors
// file written by hand, and broken files.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/cli.hpp"
#include "tomograd/core/atomic_file.hpp"

using namespace tomograd;
using test::run_command;
using test::shell_quote;
using test::tomograd_app;

namespace {


std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

}  // namespace

TEST_CASE("tomograd weights inspect: torchvision resnet18 against our resnet18", "[cli][slow]") {
  test::TempDir tmp;
  const std::string pth = (tmp / "resnet18.pth").string();
  auto gen = run_command("/usr/bin/python3 -c " +
                         shell_quote("import sys, torch, torchvision; torch.manual_seed(0); "
                                     "torch.save(torchvision.models.resnet18().state_dict(), sys.argv[1])") +
                         " " + shell_quote(pth));
  INFO(gen.err);
  REQUIRE(gen.exit_code == 0);  // needs python3-torch and python3-torchvision (scripts/install-deps.sh)

  auto same = run_command(tomograd_app() + " weights inspect " + shell_quote(pth) + " --arch resnet18 --json");
  INFO(same.err);
  REQUIRE(same.exit_code == 0);
  auto j = nlohmann::json::parse(same.out);
  CHECK(j["format"] == "pytorch-zip");
  CHECK(j["tensors"].size() == 122);
  CHECK(j["values"] == 11689512 + 9600 + 20);  // parameters + BatchNorm running stats + step counters
  CHECK(j["in_channels"] == 3);
  CHECK(j["outputs"] == 1000);
  CHECK(j["matched"] == 122);
  CHECK(j["missing"] == 0);
  CHECK(j["unexpected"] == 0);
  CHECK(j["mismatched"] == 0);

  // One CT channel and one regression output: conv1 adapted, fc re-initialized.
  auto ct = run_command(tomograd_app() + " weights inspect " + shell_quote(pth) +
                        " --arch resnet18 --in-channels 1 --num-classes 1 --json");
  REQUIRE(ct.exit_code == 0);
  auto k = nlohmann::json::parse(ct.out);
  CHECK(k["matched"] == 119);
  CHECK(k["mismatched"] == 3);
  CHECK(k["mismatched_keys"][0]["key"] == "conv1.weight");
  CHECK(k["mismatched_keys"][0]["action"] == "adapted");

  // Another architecture: resnet50 has more blocks (missing) and bottleneck shapes (mismatched).
  auto other = run_command(tomograd_app() + " weights inspect " + shell_quote(pth) + " --arch resnet50 --json");
  REQUIRE(other.exit_code == 0);
  auto o = nlohmann::json::parse(other.out);
  CHECK(o["missing"].get<int>() > 0);
  CHECK(o["mismatched"].get<int>() > 0);

  auto text = run_command(tomograd_app() + " weights inspect " + shell_quote(pth) + " --arch resnet18");
  REQUIRE(text.exit_code == 0);
  CHECK_THAT(text.out, Catch::Contains("layer4.1.bn2.running_var") && Catch::Contains("[64, 3, 7, 7]") &&
                           Catch::Contains("int64") && Catch::Contains("matched 122, missing 0"));
}

TEST_CASE("tomograd weights inspect: safetensors, usage and errors", "[cli]") {
  test::TempDir tmp;
  const std::string header = R"({"encoder.weight":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]}})";
  write_file_atomic(tmp / "w.safetensors", le64(header.size()) + header + std::string(12, '\0'));
  auto r = run_command(tomograd_app() + " weights inspect " + shell_quote((tmp / "w.safetensors").string()) + " --json");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = nlohmann::json::parse(r.out);
  CHECK(j["format"] == "safetensors");
  CHECK(j["tensors"][0]["name"] == "encoder.weight");
  CHECK(j["tensors"][0]["shape"] == nlohmann::json::array({2, 3}));
  CHECK(j["tensors"][0]["dtype"] == "float16");
  CHECK_FALSE(j.contains("matched"));
  // Nothing in it matches a resnet18: the counts say so.
  auto m = run_command(tomograd_app() + " weights inspect " + shell_quote((tmp / "w.safetensors").string()) +
                       " --arch resnet18 --json");
  REQUIRE(m.exit_code == 0);
  auto mj = nlohmann::json::parse(m.out);
  CHECK(mj["matched"] == 0);
  CHECK(mj["unexpected"] == 1);
  CHECK(mj["missing"] == 122);

  auto help = run_command(tomograd_app() + " weights inspect --help");
  CHECK(help.exit_code == 0);
  CHECK_THAT(help.out, Catch::Contains("Example") && Catch::Contains("resnet3d_10"));
  CHECK(run_command(tomograd_app() + " weights").exit_code == 2);
  CHECK(run_command(tomograd_app() + " weights inspect " + shell_quote((tmp / "w.safetensors").string()) +
                    " --arch resnet19")
            .exit_code == 2);

  write_file_atomic(tmp / "notes.txt", "not weights\n");
  auto t = run_command(tomograd_app() + " weights inspect " + shell_quote((tmp / "notes.txt").string()));
  CHECK(t.exit_code == 1);
  CHECK_THAT(t.err, Catch::Contains("notes.txt") && Catch::Contains("not a weights file"));

  write_file_atomic(tmp / "cut.safetensors", le64(header.size()) + header + std::string(5, '\0'));
  auto c = run_command(tomograd_app() + " weights inspect " + shell_quote((tmp / "cut.safetensors").string()));
  CHECK(c.exit_code == 1);
  CHECK_THAT(c.err, Catch::Contains("cut.safetensors") && Catch::Contains("truncated"));
}
