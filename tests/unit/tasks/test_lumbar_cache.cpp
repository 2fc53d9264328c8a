// The lumbar training run's input cache (RUN/inputs/<study>.pt): a complete file is read back; a
// truncated, foreign or hostile one (a zip directory declaring 4 GiB, which miniz would allocate
// before reading a byte) is one warning line naming the file and what is wrong, and is rebuilt.
#include <catch2/catch.hpp>
#include <spdlog/sinks/ostream_sink.h>
#include <torch/torch.h>

#include <algorithm>
#include <sstream>

#include "../../../src/tasks/lumbar/pipeline_impl.hpp"  // read_cached_input
#include "support/fixtures.hpp"
#include "tomograd/core/atomic_file.hpp"
#include "tomograd/core/log.hpp"

using namespace tomograd;
using tomograd::tasks::lumbar::internal::Item;
using tomograd::tasks::lumbar::internal::read_cached_input;

namespace {

/// read_cached_input() on @p file, with what it logged.
struct CacheRead {
  bool ok = false;
  std::string log;
};

CacheRead read_cache_logged(const std::filesystem::path& file, Item& item) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_pattern("%v");
  logger()->sinks().push_back(sink);
  CacheRead r;
  try {
    r.ok = read_cached_input(file, item);
  } catch (...) {
    logger()->sinks().pop_back();
    throw;
  }
  logger()->sinks().pop_back();
  r.log = out.str();
  return r;
}

/// The warning of a cache file that must be rebuilt: read_cached_input() refuses it, in one line.
std::string rebuilt_warning(const std::filesystem::path& file) {
  Item item;
  const CacheRead r = read_cache_logged(file, item);
  INFO(file);
  CHECK(!r.ok);
  return r.log;
}

}  // namespace

TEST_CASE("lumbar input cache: complete files read back, broken ones are one warning line and rebuilt", "[lumbar]") {
  test::TempDir tmp;
  const torch::Tensor labelled = torch::rand({15, 36, 36}), input = torch::rand({15, 36, 36});
  torch::save(std::vector<torch::Tensor>{labelled, input, torch::zeros({0})}, (tmp / "1.pt").string());
  Item item;
  const CacheRead r = read_cache_logged(tmp / "1.pt", item);
  REQUIRE(r.ok);
  CHECK(r.log.empty());
  CHECK(torch::equal(item.labelled, labelled));
  CHECK(torch::equal(item.input, input));
  CHECK(!item.meta.defined());

  Item none;
  CHECK(!read_cache_logged(tmp / "2.pt", none).ok);  // not cached yet: built, no warning
  CHECK(read_cache_logged(tmp / "2.pt", none).log.empty());

  const std::string bytes = read_file(tmp / "1.pt");
  write_file_atomic(tmp / "cut.pt", bytes.substr(0, bytes.size() / 2));
  CHECK_THAT(rebuilt_warning(tmp / "cut.pt"),
             Catch::StartsWith((tmp / "cut.pt").string() + ": no zip end-of-central-directory record") &&
                 Catch::EndsWith("; rebuilding it\n"));

  // The first central directory entry (APPNOTE 4.3.12: uncompressed size at +24) declares 4 GiB.
  std::string big = bytes;
  const size_t central = big.find(std::string("PK\x01\x02", 4));
  REQUIRE(central != std::string::npos);
  for (int i = 0; i < 4; ++i) big[central + 24 + i] = static_cast<char>(i == 0 ? 0xfe : 0xff);
  write_file_atomic(tmp / "big.pt", big);
  CHECK_THAT(rebuilt_warning(tmp / "big.pt"),
             Catch::StartsWith((tmp / "big.pt").string() + ": zip entry '") &&
                 Catch::Contains("uncompressed size 4294967294 of a stored entry"));

  // A LibTorch archive of another content: two tensors instead of three.
  torch::save(std::vector<torch::Tensor>{labelled, input}, (tmp / "two.pt").string());
  CHECK_THAT(rebuilt_warning(tmp / "two.pt"),
             Catch::StartsWith((tmp / "two.pt").string() + ": 2 tensors, expected 3"));
  // A sound zip directory whose data.pkl entry is garbage: LibTorch's own error, its first line.
  std::string garbage = bytes;
  const size_t local = garbage.rfind(std::string("PK\x03\x04", 4), garbage.find("data.pkl"));
  auto le16 = [&](size_t at) { return static_cast<uint8_t>(garbage[at]) | static_cast<uint8_t>(garbage[at + 1]) << 8; };
  REQUIRE(local != std::string::npos);
  REQUIRE(garbage.compare(local + 30 + le16(local + 26) - 8, 8, "data.pkl") == 0);
  garbage.replace(local + 30 + le16(local + 26) + le16(local + 28), 8, "garbage!");
  write_file_atomic(tmp / "garbage.pt", garbage);
  CHECK_THAT(rebuilt_warning(tmp / "garbage.pt"),
             Catch::StartsWith((tmp / "garbage.pt").string() + ": not a complete input cache file (") &&
                 Catch::EndsWith("); rebuilding it\n"));
}
