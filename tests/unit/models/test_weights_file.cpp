// Weight files: safetensors written by hand, PyTorch zip and LibTorch archives, clear errors on
// broken input. (Files written by Python's torch.save are covered by test_parity.cpp.)
#include <caffe2/serialize/inline_container.h>
#include <catch2/catch.hpp>
#include <torch/torch.h>

#include <chrono>
#include <cstring>
#include <fstream>

#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/models/resnet.hpp"
#include "tomograd/models/weights_file.hpp"

// The pickle and safetensors fuzzing harnesses, compiled here under other names to replay
// tests/fuzz_regressions/{pickle,safetensors}/.
#define LLVMFuzzerTestOneInput fuzz_pickle_one
#include "../../../fuzz/fuzz_pickle.cpp"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "../../../fuzz/fuzz_safetensors.cpp"
#undef LLVMFuzzerTestOneInput

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
  // The zip check (zip_directory.cpp) finds no end record in the half file and says why.
  CHECK_THROWS_WITH(read_weights(tmp / "truncated.pth"),
                    Catch::StartsWith((tmp / "truncated.pth").string() + ": ") &&
                        Catch::Contains("no zip end-of-central-directory record") &&
                        Catch::Contains("(truncated or not a zip?)"));

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

// Bytes of a string literal, NULs included.
template <size_t N>
std::string bytes_of(const char (&s)[N]) {
  return std::string(s, N - 1);
}

TEST_CASE("opening a .pth never runs code: globals outside a state dict are refused by name", "[models]") {
  test::TempDir tmp;
  const fs::path marker = tmp / "ran";
  const std::string command = "touch " + marker.string();
  // Protocol 2 as pickle.dumps writes it for an object whose __reduce__ returns os.system.
  const std::string cmd_len(1, static_cast<char>(command.size()));
  write_archive(tmp / "evil2.pth", std::string("\x80\x02") + bytes_of("cposix\nsystem\nq\x00X") + cmd_len +
                                       std::string(3, '\0') + command + "q\x01\x85q\x02Rq\x03.");
  CHECK_THROWS_WITH(read_weights(tmp / "evil2.pth"), Catch::Contains("evil2.pth") &&
                                                          Catch::Contains("unsupported global 'posix.system'") &&
                                                          Catch::Contains("never runs code"));
  // Protocol 4 (STACK_GLOBAL, MEMOIZE, FRAME) with builtins.eval.
  write_archive(tmp / "evil4.pth", std::string("\x80\x04\x95\x20") + std::string(7, '\0') +
                                       "\x8c\x08" "builtins\x94\x8c\x04" "eval\x94\x93\x94\x8c\x01" "1\x94\x85\x94R\x94.");
  CHECK_THROWS_WITH(read_weights(tmp / "evil4.pth"), Catch::Contains("unsupported global 'builtins.eval'"));
  // The same from Python's own pickler, when Debian's python3 is there to write it.
  const std::string script = tmp.path().string() + "/make.py";
  write_file_atomic(script,
                    "import os, pickle, sys\n"
                    "class Evil:\n"
                    "    def __reduce__(self):\n"
                    "        return (os.system, (sys.argv[2],))\n"
                    "for proto in (2, 4, 5):\n"
                    "    open(sys.argv[1] + str(proto), 'wb').write(pickle.dumps({'w': Evil()}, protocol=proto))\n");
  const auto made = test::run_command("/usr/bin/python3 " + test::shell_quote(script) + " " +
                                      test::shell_quote((tmp / "py").string()) + " " + test::shell_quote(command));
  REQUIRE(made.exit_code == 0);
  for (const char* proto : {"2", "4", "5"}) {
    write_archive(tmp / "py.pth", read_file(tmp / (std::string("py") + proto)));
    CHECK_THROWS_WITH(read_weights(tmp / "py.pth"), Catch::Contains("unsupported global '") &&
                                                         Catch::Contains("system'"));
  }
  CHECK_FALSE(fs::exists(marker));
}

TEST_CASE("pickle bombs: self-references, shared-reference blow-up, overflowing views", "[models]") {
  test::TempDir tmp;
  // A list appended to itself: read (nothing in it is a tensor) without leaking the cycle.
  write_archive(tmp / "cycle.pth", bytes_of("\x80\x02]q\x00h\x00" "a."));
  CHECK(read_weights(tmp / "cycle.pth").size() == 0);
  // 62 tuples, each holding the one before twice: 2^62 paths to walk.
  std::string doubling = "\x80\x02N";
  for (int i = 0; i < 62; ++i) doubling += "2\x86";
  write_archive(tmp / "dag.pth", doubling + ".");
  CHECK_THROWS_WITH(read_weights(tmp / "dag.pth"),
                    Catch::Contains("dag.pth") && Catch::Contains("refer to each other more than 200000 times"));
  // A list nested 200000 deep is released without recursion (no stack overflow).
  write_archive(tmp / "deep.pth", "\x80\x02" + std::string(200000, ']') + std::string(199999, 'a') + ".");
  CHECK(read_weights(tmp / "deep.pth").size() == 0);
  // A view whose size x stride overflows 64 bits.
  auto str = [](const std::string& v) { return "X" + std::string(1, static_cast<char>(v.size())) + std::string(3, '\0') + v; };
  auto long8 = [](int64_t v) {
    std::string s = "\x8a\x08";
    for (int i = 0; i < 8; ++i) s += static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff);
    return s;
  };
  const std::string view = std::string("\x80\x02}") + str("w") + "ctorch._utils\n_rebuild_tensor_v2\n((" +
                           str("storage") + "ctorch\nFloatStorage\n" + str("0") + str("cpu") + bytes_of("K\x04tQK\x00(") +
                           long8(int64_t{1} << 40) + long8(int64_t{1} << 40) + "t(" + long8(int64_t{1} << 40) +
                           "K\x01t\x89)tRs.";
  write_archive(tmp / "view.pth", view, {{"data/0", raw<float>({1.f, 2.f, 3.f, 4.f})}});
  CHECK_THROWS_WITH(read_weights(tmp / "view.pth"), Catch::Contains("view.pth: tensor 'w'") &&
                                                         Catch::Contains("overflow 64 bits"));
}

TEST_CASE("safetensors shapes whose byte count overflows are refused before allocation", "[models]") {
  test::TempDir tmp;
  // 2^33 x 2^31 float32 = 2^66 bytes: wraps to 0 in 64 bits, matching data_offsets [0, 0].
  const std::string header = R"({"w":{"dtype":"F32","shape":[8589934592,2147483648],"data_offsets":[0,0]}})";
  write_file_atomic(tmp / "wrap.safetensors", le64(header.size()) + header);
  CHECK_THROWS_WITH(read_weights(tmp / "wrap.safetensors"),
                    Catch::Contains("wrap.safetensors: tensor 'w'") && Catch::Contains("more bytes than 2^64"));
  const std::string past = R"({"w":{"dtype":"F32","shape":[1000],"data_offsets":[0,4000]}})";
  write_file_atomic(tmp / "past.safetensors", le64(past.size()) + past + raw<float>({1.f}));
  CHECK_THROWS_WITH(read_weights(tmp / "past.safetensors"), Catch::Contains("data ends at byte 4000"));
}

TEST_CASE("fuzzing regression inputs of the pickle and safetensors readers", "[models]") {
  int replayed = 0;
  for (const auto& [name, run] : {std::pair{"pickle", fuzz_pickle_one}, std::pair{"safetensors", fuzz_safetensors_one}}) {
    const fs::path dir = fs::path(TOMOGRAD_SOURCE_DIR) / "tests" / "fuzz_regressions" / name;
    if (!fs::is_directory(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      INFO(entry.path().string());
      const std::string bytes = read_file(entry.path());
      const auto start = std::chrono::steady_clock::now();
      CHECK(run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) == 0);
      // Found as a 158-byte pickle that took 13 s (instrumented): now refused within the budget.
      CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
      ++replayed;
    }
  }
  CHECK(replayed >= 1);
}
