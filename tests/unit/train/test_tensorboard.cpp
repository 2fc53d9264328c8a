// TensorBoard event files, read back by an independent reader (tests/unit/train/read_tfevents.py:
// its own CRC-32C, message definitions from TensorFlow's protos, Debian's python3-protobuf).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/train/tensorboard.hpp"

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
