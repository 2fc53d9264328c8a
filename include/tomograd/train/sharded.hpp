#pragma once
/// @file Commands that run a trained model over patients (evaluate, predict, infer,
/// extract-features) sharded over the ranks of a data-parallel job: each rank loads and scores a
/// contiguous share of the patients, the per-patient results are gathered to every rank in the
/// one-process order, and rank 0 alone writes (train::run_on_main_process). With WORLD_SIZE unset
/// or 1 the work runs on all patients in this process and nothing is created (docs/distributed.md).
#include <torch/types.h>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tomograd/train/distributed.hpp"

namespace tomograd::train {

/// The contiguous share [first, second) of @p n items that @p rank of @p world takes:
/// [n·rank/world, n·(rank+1)/world), nearly equal, in rank order; empty when n < world for some
/// ranks. The shares of all ranks, concatenated in rank order, are 0..n-1.
std::pair<std::size_t, std::size_t> contiguous_share(std::size_t n, int rank, int world);

/// Every rank's @p bytes, in rank order, on every rank (two all-gathers: the lengths, then the bytes).
std::vector<std::string> allgather_bytes(Communicator& comm, const std::string& bytes);

/// The communicator that sharded work uses: the job's (joined on @p device on the first call),
/// or nullptr for a single process and inside run_on_main_process() (rank 0 alone runs it then,
/// unsharded, so a command nested in a rank-0-only section never waits for the other ranks).
Communicator* sharding_communicator(const torch::Device& device);

/// A barrier of the ranks that shard work (nothing for a single process or inside
/// run_on_main_process()): after each rank wrote files of its own share, so that a failure on one
/// reaches the others and none reports success before all are done.
void wait_for_sharded_ranks();

/// A warning about an item of this rank's share of sharded work (a bad input skipped): logged
/// here, and in a data-parallel job gathered with the results, so that rank 0, which alone writes
/// the outputs, also logs the other ranks' as "rank R: <line>" and its log lists every skip.
void warn_share(const std::string& line);

namespace detail {
/// Runs @p work on this rank's contiguous share of @p n items (not at all when it is empty; progress
/// bars only on rank 0) and returns the JSON arrays it returned on every rank, concatenated in rank
/// order. Serialized as CBOR: doubles (NaN and infinities included) come back bit for bit. The
/// other ranks' warn_share() lines travel with them and rank 0 logs them.
nlohmann::json run_share_and_gather(Communicator& comm, std::size_t n,
                                    const std::function<nlohmann::json(std::size_t, std::size_t)>& work);
}  // namespace detail

/// The results of @p work over @p n items (patients in the one-process order), sharded over the
/// ranks of a data-parallel job. @p work(begin, end) returns the results of items [begin, end) in
/// item order (it may leave out items, e.g. bad inputs skipped); the return value is every rank's
/// results in rank order, on every rank: the one-process results. Single process: work(0, n),
/// nothing serialized. T converts to and from nlohmann::json (to_json/from_json found by ADL).
/// A rank whose work throws fails the job: the others' gather names it (report_failure).
template <class T, class Work>
std::vector<T> shard_and_gather(std::size_t n, const torch::Device& device, Work&& work) {
  Communicator* comm = sharding_communicator(device);
  if (!comm) return work(std::size_t{0}, n);
  const nlohmann::json all = detail::run_share_and_gather(
      *comm, n, [&](std::size_t begin, std::size_t end) { return nlohmann::json(work(begin, end)); });
  return all.get<std::vector<T>>();
}

/// shard_and_gather() for results that are rows of one tensor: @p work(begin, end) returns
/// [end - begin, ...] (one row per item, any device); the return value is every rank's rows in
/// rank order, [n, ...] on the CPU, on every rank (one all-gather; the values arrive exactly).
/// Single process: work(0, n) on the CPU.
torch::Tensor shard_and_gather_rows(std::size_t n, const torch::Device& device,
                                    const std::function<torch::Tensor(std::size_t, std::size_t)>& work);

}  // namespace tomograd::train
