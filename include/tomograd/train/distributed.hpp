#pragma once
/// @file Data-parallel training over LibTorch's c10d: rendezvous from the environment that
/// `torchrun --no-python` and Slurm's `srun` set, a process group (Gloo; NCCL where the LibTorch
/// has it), gradient all-reduce in buckets, and the sharding of global batches (docs/distributed.md).
///
/// The invariant: the global batches and every random draw depend on (seed, epoch, sample) only,
/// never on the world size or the rank, so one config trains the same on 1 or N processes.
#include <torch/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tomograd/core/error.hpp"
#include "tomograd/train/sampler.hpp"

namespace torch::nn {
class Module;
}

namespace tomograd::train {

/// A data-parallel job failed: rendezvous, a collective, or another rank (named in the message).
class DistributedError : public Error {
 public:
  explicit DistributedError(const std::string& what) : Error(what) {}
};

/// Where this process sits in a job, as the launcher described it.
struct DistributedEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  /// torchrun's agent hosts the TCP store (TORCHELASTIC_USE_AGENT_STORE=True): every rank is a
  /// client, keys live under /worker/attempt_<restart_count>.
  bool agent_store = false;
  int restart_count = 0;
  std::string launcher = "none";   ///< none | env (RANK/WORLD_SIZE) | torchrun | slurm
  std::string socket_ifname;       ///< GLOO_SOCKET_IFNAME (first interface of a comma list)
  std::string backend = "auto";    ///< TOMOGRAD_DIST_BACKEND: auto | gloo | nccl
  std::chrono::seconds timeout{300};  ///< TOMOGRAD_DIST_TIMEOUT_S: rendezvous and every collective
  bool active() const { return world_size > 1; }
};

/// Whether @p host names this machine's loopback interface (localhost, 127.x.y.z, ::1): a job
/// whose MASTER_ADDR is one runs all its ranks here.
bool is_loopback(const std::string& host);

/// Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (torchrun, or any launcher that
/// sets them), TORCHELASTIC_USE_AGENT_STORE and TORCHELASTIC_RESTART_COUNT, else Slurm's
/// SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (MASTER_ADDR then defaults to the first host of
/// SLURM_JOB_NODELIST when it is a plain name). WORLD_SIZE unset or 1: a single process.
/// @p getenv is injectable for tests. Throws ConfigError naming the variable and its value.
DistributedEnv read_distributed_env(const std::function<const char*(const char*)>& getenv = nullptr);

/// Whether this build has LibTorch's NCCL process group: a CUDA LibTorch, with nccl.h found when
/// CMake configured tomograd (TOMOGRAD_NCCL, docs/distributed.md).
bool nccl_available();

/// The process-group backend, "gloo" or "nccl", for @p requested (TOMOGRAD_DIST_BACKEND: auto,
/// gloo or nccl) on @p device: auto takes NCCL for a CUDA device when the build has it, else Gloo
/// (which reduces CUDA tensors through host memory). Throws DistributedError naming what is
/// missing when NCCL is asked for on a CPU device or without an NCCL build.
std::string choose_backend(const std::string& requested, const torch::Device& device);

/// A process group of this job. Collectives block until every rank joined them or the timeout
/// passed; a peer that died makes them throw DistributedError naming that rank's failure when it
/// recorded one (report_failure).
class Communicator {
 public:
  /// Joins the job: rendezvous through the TCP store at master_addr:master_port (rank 0 hosts it
  /// unless torchrun's agent does), then the process group choose_backend() picks for @p device:
  /// Gloo (CPU tensors, or CUDA through host copies) or NCCL (tensors on @p device; the
  /// collectives copy tensors from elsewhere there and back). Throws DistributedError.
  Communicator(const DistributedEnv& env, const torch::Device& device);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const;
  int world_size() const;
  const std::string& backend() const;

  /// Sums @p tensors element-wise over ranks, in place (same shapes on every rank).
  void allreduce_sum(std::vector<torch::Tensor>& tensors);
  /// Copies @p tensors of rank @p root into every rank's tensors, in place.
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
  /// Every rank's @p t concatenated along dim 0 in rank order; first dims may differ per rank,
  /// the other dims and the dtype must agree (ValueError on every rank otherwise). An undefined
  /// @p t counts as zero rows (a rank with an empty share); undefined on every rank: undefined.
  torch::Tensor allgather_cat(const torch::Tensor& t);
  void barrier();
  /// The end of a section that rank 0 runs alone (run_on_main_process): rank 0 marks it done in
  /// the store; the other ranks wait for the mark as long as rank 0 takes (a long report), polling
  /// for a failure another rank recorded, then all meet at a barrier. A collective alone would
  /// give up after the job's timeout while rank 0 is still writing.
  void finish_main_section();

  /// Records this rank's failure in the store for the others to name. Never throws.
  void report_failure(const std::string& what) noexcept;
  /// The failure another rank recorded, if any ("rank 1: ..."). Never throws.
  std::optional<std::string> peer_failure() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  /// Runs a collective; turns c10d errors into DistributedError with a peer's recorded failure.
  void run(const char* what, const std::function<void()>& op);
};

/// The process-wide communicator of a job of several processes, joined on the first call with
/// the environment and @p device; nullptr for a single process (nothing is created then).
Communicator* communicator(const torch::Device& device);
/// The communicator joined earlier, or nullptr.
Communicator* current_communicator();
/// Closes the process group and the store of the job joined earlier (nothing without one): the
/// apps call it before main returns, so that an NCCL group is torn down while CUDA still runs
/// rather than among the static destructors at exit (PyTorch's destroy_process_group()).
void leave_job();
/// Rank of this process (0 for a single process).
int process_rank();
/// True on rank 0 (and for a single process): the one process that writes files and logs progress.
inline bool is_main_process() { return process_rank() == 0; }

/// Task-level files around training (config, splits, reports, predictions): rank 0 runs
/// @p write, then every rank of a joined job waits for it at a barrier (an exception on rank 0
/// reaches the others there, through the app's failure report). A single process just runs it.
void run_on_main_process(const std::function<void()>& write);

/// Copies rank 0's parameters and buffers into every rank.
void broadcast_module(Communicator& comm, torch::nn::Module& module);

/// Copies rank 0's buffers (BatchNorm running statistics) into every rank.
void broadcast_buffers(Communicator& comm, torch::nn::Module& module);

/// Sums the gradients of @p params over ranks in flat buckets of about @p bucket_mb MB (one
/// all-reduce per bucket). A gradient missing on some ranks counts as zeros there; one missing on
/// every rank stays missing. Each rank must have scaled its loss by its share of the global batch
/// so that the sum is the gradient of the global batch's mean loss.
void allreduce_gradients(Communicator& comm, const std::vector<torch::Tensor>& params, double bucket_mb = 25.0);

/// The part of every global batch that @p rank of @p world takes. Samples are split into
/// contiguous, nearly equal shares; with @p patients (patient-grouped batches), runs of one
/// patient's samples stay whole, each patient going to the rank that holds the middle of its run
/// in an equal split. A share may be empty: the rank still joins every collective. The shares are
/// contiguous runs of each global batch in rank order; with @p offsets, the position in each
/// global batch where this rank's share starts (the samples of the lower ranks' shares).
BatchPlan shard_plan(const BatchPlan& plan, int rank, int world, const Dataset* patients = nullptr,
                     std::vector<std::size_t>* offsets = nullptr);

}  // namespace tomograd::train
