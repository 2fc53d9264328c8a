// Sharded inference over the ranks of a data-parallel job (sharded.hpp): contiguous shares of the
// patients, per-rank results serialized as CBOR and all-gathered as bytes.
#include "tomograd/train/sharded.hpp"

#include <torch/torch.h>

#include <cstring>

#include "main_section.hpp"
#include "tomograd/core/error.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/progress.hpp"

namespace tomograd::train {

std::pair<std::size_t, std::size_t> contiguous_share(std::size_t n, int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world) {
    throw ValueError("contiguous_share: rank " + std::to_string(rank) + " outside a world of " + std::to_string(world));
  }
  const auto r = static_cast<std::size_t>(rank), w = static_cast<std::size_t>(world);
  return {n * r / w, n * (r + 1) / w};
}

std::vector<std::string> allgather_bytes(Communicator& comm, const std::string& bytes) {
  const torch::Tensor lengths = comm.allgather_cat(torch::tensor({static_cast<int64_t>(bytes.size())}, torch::kInt64));
  std::vector<std::string> out(static_cast<std::size_t>(comm.world_size()));
  // Every rank knows every length: when all are empty, no rank sends the bytes.
  if (lengths.sum().item<int64_t>() == 0) return out;
  torch::Tensor mine = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  if (!bytes.empty()) std::memcpy(mine.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  const torch::Tensor all = comm.allgather_cat(mine).contiguous();
  const char* data = reinterpret_cast<const char*>(all.data_ptr<uint8_t>());
  int64_t offset = 0;
  for (std::size_t r = 0; r < out.size(); ++r) {
    const int64_t len = lengths[static_cast<int64_t>(r)].item<int64_t>();
    out[r].assign(data + offset, static_cast<std::size_t>(len));
    offset += len;
  }
  return out;
}

Communicator* sharding_communicator(const torch::Device& device) {
  if (detail::in_main_process_section()) return nullptr;
  return communicator(device);
}

void wait_for_sharded_ranks() {
  if (detail::in_main_process_section()) return;
  if (Communicator* comm = current_communicator()) comm->barrier();
}

namespace {
/// The warn_share() lines of the share this thread runs, when another rank's rank 0 should see them.
thread_local std::vector<std::string>* g_share_warnings = nullptr;
}  // namespace

void warn_share(const std::string& line) {
  logger()->warn("{}", line);
  if (g_share_warnings) g_share_warnings->push_back(line);
}

namespace {
/// Progress bars on rank 0 only while it runs its share (each rank's bar would count its own share).
class QuietOtherRanks {
 public:
  explicit QuietOtherRanks(int rank) : was_(progress_enabled()) {
    if (rank != 0) set_progress_enabled(false);
  }
  ~QuietOtherRanks() { set_progress_enabled(was_); }
  QuietOtherRanks(const QuietOtherRanks&) = delete;
  QuietOtherRanks& operator=(const QuietOtherRanks&) = delete;

 private:
  bool was_;
};

/// This rank's share of @p n items, logged (each rank's log says what it loaded and scored).
std::pair<std::size_t, std::size_t> logged_share(std::size_t n, const Communicator& comm) {
  const auto [begin, end] = contiguous_share(n, comm.rank(), comm.world_size());
  if (begin < end) {
    logger()->info("rank {} of {}: items {}-{} of {} (its share)", comm.rank(), comm.world_size(), begin + 1, end, n);
  } else {
    logger()->info("rank {} of {}: none of the {} items (an empty share)", comm.rank(), comm.world_size(), n);
  }
  return {begin, end};
}
}  // namespace

torch::Tensor shard_and_gather_rows(std::size_t n, const torch::Device& device,
                                    const std::function<torch::Tensor(std::size_t, std::size_t)>& work) {
  Communicator* comm = sharding_communicator(device);
  if (!comm) return work(0, n).to(torch::kCPU);
  const auto [begin, end] = logged_share(n, *comm);
  torch::Tensor mine;  // undefined: an empty share, zero rows of the others' shape
  if (begin < end) {
    QuietOtherRanks quiet(comm->rank());
    mine = work(begin, end).to(torch::kCPU);
  }
  return comm->allgather_cat(mine);
}

nlohmann::json detail::run_share_and_gather(Communicator& comm, std::size_t n,
                                            const std::function<nlohmann::json(std::size_t, std::size_t)>& work) {
  const auto [begin, end] = logged_share(n, comm);
  nlohmann::json mine = nlohmann::json::array();
  std::vector<std::string> warnings;
  if (begin < end) {
    QuietOtherRanks quiet(comm.rank());
    struct Collect {
      explicit Collect(std::vector<std::string>* to) { g_share_warnings = to; }
      ~Collect() { g_share_warnings = nullptr; }
    } collect(comm.rank() != 0 ? &warnings : nullptr);
    mine = work(begin, end);
  }
  if (!mine.is_array()) throw ValueError("sharded work: expected a JSON array of per-item results");
  const std::vector<uint8_t> cbor = nlohmann::json::to_cbor(nlohmann::json{{"results", mine}, {"warnings", warnings}});
  const auto parts = allgather_bytes(comm, std::string(cbor.begin(), cbor.end()));
  nlohmann::json all = nlohmann::json::array();
  for (std::size_t r = 0; r < parts.size(); ++r) {
    nlohmann::json part = nlohmann::json::from_cbor(parts[r]);
    for (auto& item : part.at("results")) all.push_back(std::move(item));
    if (comm.rank() != 0) continue;
    for (const auto& line : part.at("warnings")) logger()->warn("rank {}: {}", r, line.get<std::string>());
  }
  return all;
}

}  // namespace tomograd::train
