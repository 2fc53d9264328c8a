// Sharded inference (train/sharded.hpp): contiguous shares, and real Gloo jobs of 2 and 3
// processes on 127.0.0.1 whose gathered results must be the one-process results (this test binary
// re-runs itself as the ranks, through the hidden "[.shard_worker]" case).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <thread>

#include "support/fixtures.hpp"
#include "support/ranks.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/train/sharded.hpp"

using namespace tomograd;
namespace fs = std::filesystem;

namespace shard_test {

/// A per-patient result with what the tasks send: a string, a NaN (unknown target), a vector.
struct Row {
  std::string id;
  double value = 0.0;
  std::vector<double> features;
};

void to_json(nlohmann::json& j, const Row& r) { j = {r.id, r.value, r.features}; }
void from_json(const nlohmann::json& j, Row& r) {
  r.id = j.at(0).get<std::string>();
  r.value = j.at(1).get<double>();
  r.features = j.at(2).get<std::vector<double>>();
}

/// The results of items [begin, end): item 1's value is NaN, every item i with i % 4 == 3 is left
/// out (a bad input skipped), values that are not short decimals (1/3, 1e-300).
std::vector<Row> rows_of(std::size_t begin, std::size_t end) {
  std::vector<Row> out;
  for (std::size_t i = begin; i < end; ++i) {
    if (i % 4 == 3) continue;
    const double x = static_cast<double>(i);
    out.push_back({"P" + std::to_string(i), i == 1 ? std::nan("") : x + 1.0 / 3.0, {x * 1e-300, -x / 7.0}});
  }
  return out;
}

bool same_double(double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0; }

void check_same_rows(const std::vector<Row>& got, const std::vector<Row>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("row " << i);
    CHECK(got[i].id == want[i].id);
    CHECK(same_double(got[i].value, want[i].value));
    REQUIRE(got[i].features.size() == want[i].features.size());
    for (std::size_t k = 0; k < got[i].features.size(); ++k) CHECK(same_double(got[i].features[k], want[i].features[k]));
  }
}

/// Tensor rows of items [begin, end): [end - begin, 2] float64, values that are not short decimals.
torch::Tensor tensor_rows_of(std::size_t begin, std::size_t end) {
  const torch::Tensor i = torch::arange(static_cast<int64_t>(begin), static_cast<int64_t>(end), torch::kFloat64);
  return torch::stack({i + 1.0 / 3.0, -i / 7.0}, 1);
}

/// What one rank did: the shares its work was called with, the gathered rows, the same inside
/// run_on_main_process (rank 0 alone, unsharded), and all-gathered bytes.
nlohmann::json rank_record(std::size_t n, int rank) {
  nlohmann::json rec;
  rec["calls"] = nlohmann::json::array();
  rec["nested_calls"] = nlohmann::json::array();
  const torch::Device cpu(torch::kCPU);
  const auto rows = train::shard_and_gather<Row>(n, cpu, [&](std::size_t b, std::size_t e) {
    rec["calls"].push_back({b, e});
    // Rank 0 logs the other ranks' warnings too, after the gather.
    train::warn_share("share warning " + std::to_string(b) + "-" + std::to_string(e));
    return rows_of(b, e);
  });
  rec["rows"] = rows;
  rec["nested"] = nlohmann::json::array();
  // TG_SLOW_MAIN_S: rank 0 writes for longer than the job's timeout; the others must wait.
  if (const char* slow = std::getenv("TG_SLOW_MAIN_S")) {
    train::run_on_main_process([&] { std::this_thread::sleep_for(std::chrono::seconds(std::atoi(slow))); });
  }
  // TG_FAIL_MAIN: rank 0 fails while it writes; the others must stop waiting and name it.
  if (std::getenv("TG_FAIL_MAIN")) train::run_on_main_process([] { throw Error("deliberate failure while writing"); });
  train::run_on_main_process([&] {
    rec["nested"] = train::shard_and_gather<Row>(n, cpu, [&](std::size_t b, std::size_t e) {
      rec["nested_calls"].push_back({b, e});
      return rows_of(b, e);
    });
    // A writer that calls another (evaluate inside a cross-validation's section): one barrier.
    train::run_on_main_process([&] { rec["inner_section"] = true; });
  });
  train::wait_for_sharded_ranks();
  const torch::Tensor t = train::shard_and_gather_rows(n, cpu, tensor_rows_of).contiguous();
  rec["tensor_rows"] = std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  train::Communicator* comm = train::current_communicator();
  REQUIRE(comm);
  rec["bytes"] = train::allgather_bytes(*comm, rank == 1 ? std::string() : "rank " + std::to_string(rank));
  rec["no_bytes"] = train::allgather_bytes(*comm, "");
  // Non-contiguous tensors (transposes): the group reduces and broadcasts dense copies, and the
  // results are written back into these very tensors.
  const torch::Tensor grid = torch::arange(6, torch::kFloat64).reshape({2, 3});
  std::vector<torch::Tensor> reduce{(grid * (rank + 1)).t()};
  comm->allreduce_sum(reduce);
  const torch::Tensor reduced = reduce[0].contiguous();
  rec["allreduced"] = std::vector<double>(reduced.data_ptr<double>(), reduced.data_ptr<double>() + 6);
  std::vector<torch::Tensor> from_root{torch::full({2, 3}, rank + 1.0, torch::kFloat64).t()};
  comm->broadcast(from_root, 0);
  CHECK_FALSE(from_root[0].is_contiguous());
  const torch::Tensor sent = from_root[0].contiguous();
  rec["broadcast"] = std::vector<double>(sent.data_ptr<double>(), sent.data_ptr<double>() + 6);
  return rec;
}

std::string shard_read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace shard_test

TEST_CASE("sharded inference worker (run by the sharding tests)", "[.shard_worker]") {
  set_progress_enabled(false);
  const char* dir = std::getenv("TG_RUN_DIR");
  const char* n = std::getenv("TG_SHARD_N");
  REQUIRE(dir);
  REQUIRE(n);
  const int rank = std::atoi(std::getenv("RANK"));
  try {
    const auto rec = shard_test::rank_record(static_cast<std::size_t>(std::atoi(n)), rank);
    // CBOR keeps the NaN that JSON text would turn into null.
    const auto cbor = nlohmann::json::to_cbor(rec);
    std::ofstream(fs::path(dir) / ("rank" + std::to_string(rank) + ".cbor"), std::ios::binary)
        .write(reinterpret_cast<const char*>(cbor.data()), static_cast<std::streamsize>(cbor.size()));
  } catch (const std::exception& e) {
    if (auto* c = train::current_communicator()) c->report_failure(e.what());
    FAIL(e.what());
  }
}

TEST_CASE("contiguous shares cover the items once, in rank order, nearly equal", "[train]") {
  for (std::size_t n = 0; n <= 7; ++n) {
    for (int world = 1; world <= 4; ++world) {
      std::size_t next = 0;
      for (int r = 0; r < world; ++r) {
        const auto [b, e] = train::contiguous_share(n, r, world);
        CHECK(b == next);
        CHECK(e >= b);
        // n/world rounded down or up.
        CHECK((e - b) * static_cast<std::size_t>(world) + static_cast<std::size_t>(world) > n);
        CHECK((e - b) * static_cast<std::size_t>(world) < n + static_cast<std::size_t>(world));
        next = e;
      }
      CHECK(next == n);
    }
  }
  CHECK(train::contiguous_share(2, 0, 3) == std::pair<std::size_t, std::size_t>{0, 0});
  CHECK_THROWS_WITH(train::contiguous_share(4, 2, 2), Catch::Contains("rank 2 outside a world of 2"));
  // One process: the work runs once on every item, nothing is serialized.
  std::size_t calls = 0;
  const auto rows = train::shard_and_gather<shard_test::Row>(5, torch::Device(torch::kCPU), [&](std::size_t b, std::size_t e) {
    ++calls;
    CHECK(b == 0);
    CHECK(e == 5);
    return shard_test::rows_of(b, e);
  });
  CHECK(calls == 1);
  CHECK(rows.size() == 4);
}

TEST_CASE("the other ranks wait for rank 0's files longer than the job's timeout, and stop when it fails",
          "[train][slow]") {
  // Rank 0 writes for 4 s in a job whose collectives time out after 2 s: the others wait for it
  // in the store, not in a collective, and the job succeeds.
  test::TempDir tmp;
  const auto codes = test::run_self_as_ranks(2, "[.shard_worker]", tmp.path(),
                                             "TG_SHARD_N=3 TG_SLOW_MAIN_S=4 TOMOGRAD_DIST_TIMEOUT_S=2");
  INFO(shard_test::shard_read_text(tmp / "rank0.log") + shard_test::shard_read_text(tmp / "rank1.log"));
  CHECK(codes == std::vector<int>({0, 0}));
  // Rank 0 failing while it writes ends the job at once (not after the timeout), named.
  test::TempDir failing;
  const auto t0 = std::chrono::steady_clock::now();
  const auto failed = test::run_self_as_ranks(2, "[.shard_worker]", failing.path(),
                                              "TG_SHARD_N=3 TG_FAIL_MAIN=1 TOMOGRAD_DIST_TIMEOUT_S=600");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Catch wraps long messages: compare with runs of white space as one space.
  std::string rank1;
  for (char c : shard_test::shard_read_text(failing / "rank1.log")) {
    const bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
    if (!space || (!rank1.empty() && rank1.back() != ' ')) rank1 += space ? ' ' : c;
  }
  INFO(rank1);
  CHECK(failed[0] != 0);
  CHECK(failed[1] != 0);
  CHECK(rank1.find("because rank 0 failed: deliberate failure while writing") != std::string::npos);
  CHECK(seconds < 60);
}

TEST_CASE("2 and 3 Gloo processes gather the one-process results, a rank with an empty share included",
          "[train][slow]") {
  // 5 items on 2 ranks (shares of 2 and 3); 2 items on 3 ranks (rank 0's share is empty).
  for (const auto& [n, world] : std::vector<std::pair<std::size_t, int>>{{5, 2}, {2, 3}}) {
    INFO(n << " items on " << world << " ranks");
    test::TempDir tmp;
    const auto codes = test::run_self_as_ranks(world, "[.shard_worker]", tmp.path(),
                                               "TG_SHARD_N=" + std::to_string(n));
    std::string logs;
    for (int r = 0; r < world; ++r) logs += shard_test::shard_read_text(tmp / ("rank" + std::to_string(r) + ".log"));
    INFO(logs);
    REQUIRE(codes == std::vector<int>(static_cast<std::size_t>(world), 0));
    const auto want = shard_test::rows_of(0, n);
    for (int r = 0; r < world; ++r) {
      INFO("rank " << r);
      const std::string bytes = shard_test::shard_read_text(tmp / ("rank" + std::to_string(r) + ".cbor"));
      const auto rec = nlohmann::json::from_cbor(bytes);
      shard_test::check_same_rows(rec["rows"].get<std::vector<shard_test::Row>>(), want);
      // The work ran once, on this rank's contiguous share; not at all on an empty share.
      const auto [b, e] = train::contiguous_share(n, r, world);
      const nlohmann::json calls = b < e ? nlohmann::json::array({{b, e}}) : nlohmann::json::array();
      CHECK(rec["calls"] == calls);
      // Inside run_on_main_process rank 0 runs everything alone and the others wait.
      if (r == 0) {
        shard_test::check_same_rows(rec["nested"].get<std::vector<shard_test::Row>>(), want);
        CHECK(rec["nested_calls"] == nlohmann::json::array({{0, n}}));
        CHECK(rec.value("inner_section", false));
      } else {
        CHECK(rec["nested_calls"].empty());
      }
      std::vector<std::string> bytes_want;
      for (int k = 0; k < world; ++k) bytes_want.push_back(k == 1 ? "" : "rank " + std::to_string(k));
      CHECK(rec["bytes"].get<std::vector<std::string>>() == bytes_want);
      const torch::Tensor rows = shard_test::tensor_rows_of(0, n).contiguous();
      CHECK(rec["tensor_rows"].get<std::vector<double>>() ==
            std::vector<double>(rows.data_ptr<double>(), rows.data_ptr<double>() + rows.numel()));
      CHECK(rec["no_bytes"].get<std::vector<std::string>>() == std::vector<std::string>(static_cast<std::size_t>(world)));
      // Sum over ranks of (rank + 1) x the grid, transposed; rank 0's ones everywhere.
      const torch::Tensor summed = (torch::arange(6, torch::kFloat64).reshape({2, 3}) * (world * (world + 1) / 2)).t().contiguous();
      CHECK(rec["allreduced"].get<std::vector<double>>() ==
            std::vector<double>(summed.data_ptr<double>(), summed.data_ptr<double>() + 6));
      CHECK(rec["broadcast"].get<std::vector<double>>() == std::vector<double>(6, 1.0));
      // Rank 0's log has every other rank's share warnings.
      const auto [sb, se] = train::contiguous_share(n, r, world);
      if (r > 0 && sb < se) {
        CHECK_THAT(shard_test::shard_read_text(tmp / "rank0.log"),
                   Catch::Contains("rank " + std::to_string(r) + ": share warning " + std::to_string(sb) + "-" +
                                   std::to_string(se)));
      }
    }
  }
}
