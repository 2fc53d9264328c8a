// Weight files: safetensors written by hand, PyTorch zip and LibTorch archives, clear errors on
// broken input. (Files written by Python's torch.save are covered by test_parity.cpp.)
#include <caffe2/serialize/inline_container.h>
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <cstring>
#include <fstream>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/models/resnet.hpp"
#include "tomograd/models/weights_file.hpp"

using namespace tomograd;
using namespace tomograd::models;
namespace fs = std::filesystem;

namespace {

std::string le64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

template <typename T>
std::string raw(std::initializer_list<T> values) {
  std::string s;
  for (T v : values) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

// A zip archive as torch.save lays it out, holding the given data.pkl and storage records.
void write_archive(const fs::path& path, const std::string& pickle,
                   const std::vector<std::pair<std::string, std::string>>& records = {}) {
  caffe2::serialize::PyTorchStreamWriter writer(path.string());
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (const auto& [name, data] : records) writer.writeRecord(name, data.data(), data.size());
  writer.writeEndOfFile();
}

}  // namespace

TEST_CASE("safetensors written by hand: header JSON + raw little-endian bytes", "[models]") {
  test::TempDir tmp;
  // Two tensors, deliberately listed out of data order in the header, plus metadata.
  const std::string header =
      R"({"bias":{"dtype":"I64","shape":[3],"data_offsets":[16,40]},)"
      R"("weight":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("__metadata__":{"format":"pt"}})";
  const std::string data = raw<float>({1.5f, -2.0f, 0.25f, 8.0f}) + raw<int64_t>({7, -1, 1LL << 40});
  write_file_atomic(tmp / "w.safetensors", le64(header.size()) + header + data);

  CHECK(detect_weights_format(tmp / "w.safetensors") == WeightsFormat::kSafetensors);
  WeightsFile f = read_weights_file(tmp / "w.safetensors");
  REQUIRE(f.tensors.size() == 2);
  CHECK(f.tensors.keys()[0] == "weight");  // data order
  CHECK(f.metadata.at("format") == "pt");
  CHECK(torch::equal(f.tensors["weight"], torch::tensor({{1.5f, -2.0f}, {0.25f, 8.0f}})));
  CHECK(f.tensors["bias"].scalar_type() == torch::kInt64);
  CHECK(torch::equal(f.tensors["bias"], torch::tensor({int64_t{7}, int64_t{-1}, int64_t{1} << 40})));

  // Our writer round-trips every supported dtype, including 0-d and empty tensors.
  StateDict sd;
  sd.insert("a.float", torch::randn({3, 4}));
  sd.insert("b.half", torch::randn({5}).to(torch::kFloat16));
  sd.insert("c.bf16", torch::randn({2, 2}).to(torch::kBFloat16));
  sd.insert("d.long", torch::tensor(int64_t{42}));
  sd.insert("e.bool", torch::tensor({true, false, true}));
  sd.insert("f.empty", torch::empty({0, 3}));
  sd.insert("g.noncontig", torch::arange(12, torch::kFloat64).view({3, 4}).t());
  write_safetensors(tmp / "rt.safetensors", sd, {{"arch", "resnet18"}});
  WeightsFile back = read_weights_file(tmp / "rt.safetensors");
  REQUIRE(back.tensors.size() == sd.size());
  CHECK(back.metadata.at("arch") == "resnet18");
  for (const auto& item : sd) {
    INFO(item.key());
    CHECK(back.tensors[item.key()].scalar_type() == item.value().scalar_type());
    CHECK(torch::equal(back.tensors[item.key()], item.value()));
  }

  // Truncated data and an inconsistent header are errors naming the file.
  write_file_atomic(tmp / "short.safetensors", le64(header.size()) + header + data.substr(0, 20));
  CHECK_THROWS_WITH(read_weights(tmp / "short.safetensors"),
                    Catch::Contains("short.safetensors") && Catch::Contains("truncated"));
  write_file_atomic(tmp / "cut.safetensors", (le64(header.size()) + header).substr(0, 30));
  CHECK_THROWS_WITH(read_weights(tmp / "cut.safetensors"),
                    Catch::Contains("cut.safetensors") && Catch::Contains("truncated"));
  const std::string wrong = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
  write_file_atomic(tmp / "wrong.safetensors", le64(wrong.size()) + wrong + std::string(8, '\0'));
  CHECK_THROWS_WITH(read_weights(tmp / "wrong.safetensors"), Catch::Contains("'w'") && Catch::Contains("12 bytes"));
}

TEST_CASE("PyTorch zip written by write_torch_state_dict reads back exactly", "[models]") {
  test::TempDir tmp;
  StateDict sd;
  sd.insert("conv.weight", torch::randn({4, 3, 3, 3}));
  sd.insert("bn.num_batches_tracked", torch::tensor(int64_t{9}));
  sd.insert("half", torch::randn({7}).to(torch::kFloat16));
  sd.insert("big.shape", torch::zeros({70000}, torch::kUInt8));  // BININT sizes
  sd.insert("transposed", torch::randn({5, 6}).t());
  write_torch_state_dict(tmp / "sd.pth", sd);
  CHECK(detect_weights_format(tmp / "sd.pth") == WeightsFormat::kTorchZip);
  StateDict back = read_weights(tmp / "sd.pth");
  REQUIRE(back.keys() == sd.keys());
  for (const auto& item : sd) {
    INFO(item.key());
    CHECK(torch::equal(back[item.key()], item.value()));
  }
  CHECK(back["bn.num_batches_tracked"].dim() == 0);
}

TEST_CASE("LibTorch archives from torch::save(module) read as a flat state dict", "[models]") {
  test::TempDir tmp;
  ResNetOptions o = ResNetOptions::resnet18();
  o.in_channels = 1;
  ResNet model(o);
  torch::save(model, (tmp / "model.pt").string());
  StateDict back = read_weights(tmp / "model.pt");
  StateDict mine = module_state_dict(*model);
  REQUIRE(back.size() == mine.size());
  for (const auto& item : mine) {
    INFO(item.key());
    REQUIRE(back.contains(item.key()));
    CHECK(torch::equal(back[item.key()], item.value()));
  }
}

TEST_CASE("broken and foreign files fail with the file name and the reason", "[models]") {
  test::TempDir tmp;
  StateDict sd;
  sd.insert("w", torch::randn({64, 64}));
  write_torch_state_dict(tmp / "good.pth", sd);
  const std::string bytes = read_file(tmp / "good.pth");

  write_file_atomic(tmp / "truncated.pth", bytes.substr(0, bytes.size() / 2));
  CHECK_THROWS_AS(read_weights(tmp / "truncated.pth"), IoError);
  CHECK_THROWS_WITH(read_weights(tmp / "truncated.pth"),
                    Catch::Contains("truncated.pth") && Catch::Contains("truncated or corrupt"));

  write_file_atomic(tmp / "notes.txt", "learning rate 1e-4, 30 epochs\n");
  CHECK_THROWS_WITH(read_weights(tmp / "notes.txt"),
                    Catch::Contains("notes.txt") && Catch::Contains("not a weights file") &&
                        Catch::Contains("learning rat"));
  write_file_atomic(tmp / "empty.pth", "");
  CHECK_THROWS_WITH(read_weights(tmp / "empty.pth"), Catch::Contains("empty"));
  CHECK_THROWS_WITH(read_weights(tmp / "missing.pth"), Catch::Contains("missing.pth") && Catch::Contains("does not exist"));

  // A pickled numpy scalar (common in training checkpoints) is refused, naming the global.
  write_archive(tmp / "numpy.pth", std::string("\x80\x02") + "cnumpy.core.multiarray\nscalar\n)R.");
  CHECK_THROWS_WITH(read_weights(tmp / "numpy.pth"),
                    Catch::Contains("numpy.pth") && Catch::Contains("unsupported global 'numpy.core.multiarray.scalar'"));
  // Protocol-0 text opcodes are not written by torch.save.
  write_archive(tmp / "text.pth", "I42\n.");
  CHECK_THROWS_WITH(read_weights(tmp / "text.pth"),
                    Catch::Contains("text.pth") && Catch::Contains("unsupported pickle opcode 0x49 (INT)"));
  // A tensor of 4 floats in a storage of 2 (a hand-made pickle: what torch.save writes for
  // {"w": tensor}, minus the memo opcodes).
  auto tensor_pickle = [](char storage_numel) {
    auto str = [](const std::string& v) { return "X" + std::string(1, static_cast<char>(v.size())) + std::string(3, '\0') + v; };
    return std::string("\x80\x02}") + str("w") + "ctorch._utils\n_rebuild_tensor_v2\n((" + str("storage") +
           "ctorch\nFloatStorage\n" + str("0") + str("cpu") + "K" + std::string(1, storage_numel) + "tQ" +
           "K" + std::string(1, '\0') + "(K\x04t(K\x01t\x89)tRs.";
  };
  write_archive(tmp / "oob.pth", tensor_pickle(2), {{"data/0", raw<float>({1.f, 2.f})}});
  CHECK_THROWS_WITH(read_weights(tmp / "oob.pth"), Catch::Contains("oob.pth") && Catch::Contains("'w'") &&
                                                        Catch::Contains("has 2 elements"));
  // The same pickle with a storage of 4 floats is fine.
  write_archive(tmp / "ok.pth", tensor_pickle(4), {{"data/0", raw<float>({1.f, 2.f, 3.f, 4.f})}});
  CHECK(torch::equal(read_weights(tmp / "ok.pth")["w"], torch::tensor({1.f, 2.f, 3.f, 4.f})));
}
