// Data-parallel plumbing on LibTorch's c10d. The only translation unit that includes c10d headers.
//
// Debian's LibTorch 1.13 exports TCPStore, PrefixStore and ProcessGroupGloo from libtorch_cpu, but
// its CMake config does not define USE_C10D_GLOO, without which ProcessGroupGloo.hpp is empty; the
// Gloo headers themselves come from libgloo-dev. A PyTorch-installed LibTorch 2.x ships both.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#include "tomograd/train/distributed.hpp"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <cstdlib>
#include <mutex>
#include <thread>

#include "main_section.hpp"
#include "tomograd/core/log.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/train/sharded.hpp"
#ifdef TOMOGRAD_WITH_NCCL
#include "nccl_group.hpp"
#endif

namespace tomograd::train {

// ---- communicator ---------------------------------------------------------------------------

namespace {

/// The first line of a process-group failure: c10::Error's message without its C++ backtrace,
/// or Gloo's own IoException (a peer that closed or refused the connection) as it is.
std::string failure_line(const std::exception& e) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  const std::string text = c10_error ? c10_error->what_without_backtrace() : e.what();
  return text.substr(0, text.find('\n'));
}

/// @p t as the process group takes it: dense, and on @p device when there is one (NCCL's GPU);
/// @p t itself when it already is, else a copy that put_back() copies back.
torch::Tensor staged(const torch::Tensor& t, const std::optional<torch::Device>& device) {
  const bool moves = device && t.device() != *device;
  if (!moves && t.is_contiguous()) return t;
  return (moves ? t.to(*device) : t).contiguous();
}

void put_back(torch::Tensor& t, const torch::Tensor& staged_t) {
  if (!staged_t.is_same(t)) t.copy_(staged_t);
}

/// Gloo over the interface GLOO_SOCKET_IFNAME names (LibTorch's C++ does not read it: only the
/// Python binding does), else the master's loopback address or the host's default interface.
c10::intrusive_ptr<compat::ProcessGroupBase> make_gloo_group(const c10::intrusive_ptr<c10d::Store>& store,
                                                             const DistributedEnv& env, std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  if (!env.socket_ifname.empty()) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(env.socket_ifname));
  } else if (is_loopback(env.master_addr)) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
  } else {
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  options->threads = 2;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.world_size, options);
}

/// Before the process group forms: each rank is claimed once, and every rank shares rank 0's
/// world size, backend and kind of device. A process of another job started at the same
/// MASTER_PORT (or a RANK given twice) would otherwise join this job and take a rank's place;
/// NCCL and Gloo groups could not meet; and ranks on other devices would flush step losses at
/// other batches. Each case fails here with its reason instead of a hang or an abort in Gloo.
void check_membership(c10d::Store& store, const DistributedEnv& env, const std::string& backend,
                      const torch::Device& device) {
  const std::string who = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size);
  if (store.add("claimed_rank_" + std::to_string(env.rank), 1) != 1) {
    throw DistributedError(who + ": another process already joined the job at " + env.master_addr + ":" +
                           std::to_string(env.master_port) + " as rank " + std::to_string(env.rank) +
                           " (RANK given twice, or two jobs on one MASTER_PORT: give each job its own port)");
  }
  const std::string mine = backend + " on " + (device.is_cuda() ? "CUDA" : "the CPU") + " in a job of " +
                           std::to_string(env.world_size) + " processes";
  if (env.rank == 0) store.set("backend", std::vector<uint8_t>(mine.begin(), mine.end()));
  const auto first = store.get("backend");
  if (const std::string theirs(first.begin(), first.end()); theirs != mine) {
    throw DistributedError(who + " joins with " + mine + " but rank 0 with " + theirs +
                           ": every rank must have the same WORLD_SIZE and train on the same kind of device with "
                           "the same backend (train.device, TOMOGRAD_DIST_BACKEND)");
  }
}

}  // namespace

struct Communicator::Impl {
  DistributedEnv env;
  std::string backend;
  /// NCCL's device, where every tensor of a collective must be; none for Gloo (CPU or CUDA).
  std::optional<torch::Device> device;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<compat::ProcessGroupBase> pg;
  int64_t main_sections = 0;  ///< run_on_main_process sections finished (the same count on every rank)
};

Communicator::Communicator(const DistributedEnv& env, const torch::Device& device) : impl_(std::make_unique<Impl>()) {
  impl_->env = env;
  impl_->backend = choose_backend(env.backend, device);
  if (impl_->backend == "nccl") impl_->device = device;
  // Each rank's own GPU as the current device (NCCL's communicators and streams, and any CUDA
  // context) instead of every rank's first touch landing on GPU 0.
  compat::set_current_device(device);
  if (device.is_cuda() && impl_->backend == "gloo") {
    logger()->info("data-parallel on {}: Gloo process group (CUDA tensors reduced through host memory{})", device.str(),
                   nccl_available() ? "" : "; this build has no NCCL");
  }
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(env.timeout);
  try {
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(env.master_port);
    opts.isServer = env.rank == 0 && !env.agent_store;
    opts.numWorkers = env.agent_store ? c10::nullopt : c10::optional<std::size_t>(env.world_size);
    opts.waitWorkers = !env.agent_store;
    opts.timeout = timeout;
    c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(env.master_addr, opts);
    // torchrun's agent store is shared by every attempt: keys live under the attempt's prefix.
    if (env.agent_store) {
      tcp = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env.restart_count), tcp);
    }
    impl_->store = c10::make_intrusive<c10d::PrefixStore>("tomograd", tcp);
    check_membership(*impl_->store, env, impl_->backend, device);

#ifdef TOMOGRAD_WITH_NCCL
    if (impl_->backend == "nccl") impl_->pg = detail::make_nccl_group(impl_->store, env.rank, env.world_size, timeout);
#endif
    if (!impl_->pg) impl_->pg = make_gloo_group(impl_->store, env, timeout);
  } catch (const DistributedError&) {
    throw;
  } catch (const std::exception& e) {
    throw DistributedError("rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) +
                           ": rendezvous at " + env.master_addr + ":" + std::to_string(env.master_port) +
                           " failed (timeout " + std::to_string(env.timeout.count()) +
                           " s; check MASTER_ADDR, MASTER_PORT, that every rank started, and GLOO_SOCKET_IFNAME): " +
                           failure_line(e));
  }
  logger()->info("joined a data-parallel job: rank {} of {} (local rank {}, {} launcher, {} via {}:{}{})", env.rank,
                 env.world_size, env.local_rank, env.launcher, impl_->backend == "nccl" ? "NCCL" : "Gloo",
                 env.master_addr, env.master_port, impl_->device ? " on " + impl_->device->str() : std::string());
}

Communicator::~Communicator() = default;

int Communicator::rank() const { return impl_->env.rank; }
int Communicator::world_size() const { return impl_->env.world_size; }
const std::string& Communicator::backend() const { return impl_->backend; }

void Communicator::run(const char* what, const std::function<void()>& op) {
  if (!impl_->pg) throw DistributedError("the process group was closed after a failure");
  try {
    op();
  } catch (const std::exception& e) {
    // The peer that failed may still be writing its message: give it a moment.
    for (int i = 0; i < 20; ++i) {
      if (auto peer = peer_failure()) throw DistributedError(std::string(what) + " failed because " + *peer);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw DistributedError(std::string(what) + " failed on rank " + std::to_string(rank()) + ": " +
                           failure_line(e));
  }
}

void Communicator::allreduce_sum(std::vector<torch::Tensor>& tensors) {
  run("all-reduce", [&] {
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{staged(t, impl_->device)};
      impl_->pg->allreduce(one)->wait();
      put_back(t, one[0]);
    }
  });
}

void Communicator::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  run("broadcast", [&] {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    for (auto& t : tensors) {
      std::vector<at::Tensor> one{staged(t, impl_->device)};
      impl_->pg->broadcast(one, o)->wait();
      put_back(t, one[0]);
    }
  });
}

namespace {
// What allgather_cat's ranks tell each other first: rows, defined, dtype, dimensions, sizes.
constexpr int64_t kMaxGatherDims = 8;
constexpr int64_t kGatherHeader = 4 + kMaxGatherDims;
}  // namespace

torch::Tensor Communicator::allgather_cat(const torch::Tensor& t_in) {
  if (t_in.defined() && t_in.dim() > kMaxGatherDims) {
    throw ValueError("all-gather: tensors of up to " + std::to_string(kMaxGatherDims) + " dimensions, got " +
                     std::to_string(t_in.dim()));
  }
  const int w = world_size();
  torch::Tensor header = torch::zeros({kGatherHeader}, torch::kInt64);
  if (t_in.defined()) {
    header[0] = t_in.dim() > 0 ? t_in.size(0) : 1;
    header[1] = 1;
    header[2] = static_cast<int64_t>(t_in.scalar_type());
    header[3] = t_in.dim();
    for (int64_t d = 0; d < t_in.dim(); ++d) header[4 + d] = t_in.size(d);
  }
  // Gloo gathers CPU tensors; NCCL only tensors on its GPU, whence the headers come back.
  const torch::Device on = impl_->device.value_or(torch::kCPU);
  std::vector<std::vector<at::Tensor>> headers_out(1);
  for (int r = 0; r < w; ++r) headers_out[0].push_back(torch::zeros({kGatherHeader}, torch::dtype(torch::kInt64).device(on)));
  std::vector<at::Tensor> headers_in{header.to(on)};
  run("all-gather", [&] { impl_->pg->allgather(headers_out, headers_in)->wait(); });
  for (auto& h : headers_out[0]) h = h.cpu();
  // The dtype and trailing shape of the first rank that has a tensor; an undefined tensor counts
  // as zero rows of it (a rank whose share was empty). Undefined on every rank: undefined.
  int model = -1;
  int64_t longest = 0;
  for (int r = 0; r < w; ++r) {
    const torch::Tensor& h = headers_out[0][static_cast<std::size_t>(r)];
    if (h[1].item<int64_t>() == 0) continue;
    if (model < 0) model = r;
    const torch::Tensor& m = headers_out[0][static_cast<std::size_t>(model)];
    if (!torch::equal(h.slice(0, 2, 4), m.slice(0, 2, 4)) || !torch::equal(h.slice(0, 5), m.slice(0, 5))) {
      throw ValueError("all-gather: rank " + std::to_string(r) + "'s tensor differs from rank " +
                       std::to_string(model) + "'s in dtype or in a dimension after the first");
    }
    longest = std::max(longest, h[0].item<int64_t>());
  }
  if (model < 0) return torch::Tensor();
  const torch::Tensor& m = headers_out[0][static_cast<std::size_t>(model)];
  const auto dtype = static_cast<torch::ScalarType>(m[2].item<int64_t>());
  std::vector<int64_t> shape{longest};
  for (int64_t d = 1; d < m[3].item<int64_t>(); ++d) shape.push_back(m[4 + d].item<int64_t>());
  const bool is_bool = dtype == torch::kBool;
  const auto options = torch::TensorOptions().dtype(is_bool ? torch::kUInt8 : dtype);
  torch::Tensor padded = torch::zeros(shape, options);
  if (t_in.defined() && t_in.numel() > 0) {
    const torch::Tensor t = t_in.to(torch::kCPU, options.dtype().toScalarType()).reshape(
        t_in.dim() == 0 ? std::vector<int64_t>{1} : t_in.sizes().vec());
    padded.narrow(0, 0, t.size(0)).copy_(t);
  }
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < w; ++r) out[0].push_back(torch::empty(shape, options.device(on)));
  std::vector<at::Tensor> in{padded.to(on)};
  run("all-gather", [&] { impl_->pg->allgather(out, in)->wait(); });
  std::vector<torch::Tensor> parts;
  for (int r = 0; r < w; ++r) parts.push_back(out[0][r].narrow(0, 0, headers_out[0][r][0].item<int64_t>()));
  torch::Tensor joined = torch::cat(parts).cpu();
  return is_bool ? joined.to(torch::kBool) : joined;
}

void Communicator::barrier() {
  // A one-element all-reduce: Gloo's barrier op has no timeout of its own in every version.
  std::vector<torch::Tensor> token{torch::zeros({1})};
  allreduce_sum(token);
}

void Communicator::finish_main_section() {
  const std::string key = "main_section_" + std::to_string(impl_->main_sections++);
  run("waiting for rank 0 to write", [&] {
    if (rank() == 0) impl_->store->set(key, std::vector<uint8_t>{1});
    while (rank() != 0 && !impl_->store->check({key})) {
      if (peer_failure()) throw DistributedError("a rank failed");  // run() names the recorded failure
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
  barrier();
}

void Communicator::report_failure(const std::string& what) noexcept {
  try {
    if (!impl_->store) return;
    // The first failure wins; later ones (peers failing because of it) do not overwrite it.
    if (impl_->store->add("failures", 1) == 1) {
      const std::string msg = "rank " + std::to_string(rank()) + " failed: " + what;
      impl_->store->set("failure", std::vector<uint8_t>(msg.begin(), msg.end()));
    }
    // Closing our side of the process group makes the peers' pending collectives fail now
    // instead of at the timeout.
    impl_->pg.reset();
    // Rank 0 hosts the store: stay a moment so the peers can read the message.
    if (rank() == 0 && !impl_->env.agent_store) std::this_thread::sleep_for(std::chrono::seconds(3));
  } catch (...) {
  }
}

std::optional<std::string> Communicator::peer_failure() noexcept {
  try {
    if (!impl_->store || !impl_->store->check({"failure"})) return std::nullopt;
    const auto bytes = impl_->store->get("failure");
    return std::string(bytes.begin(), bytes.end());
  } catch (...) {
    return std::nullopt;
  }
}

// ---- process-wide communicator --------------------------------------------------------------

namespace {
std::mutex g_comm_mutex;
std::unique_ptr<Communicator> g_comm;
bool g_env_read = false;
int g_rank = 0;
}  // namespace

Communicator* communicator(const torch::Device& device) {
  std::lock_guard<std::mutex> lock(g_comm_mutex);
  if (!g_env_read) {
    const DistributedEnv env = read_distributed_env();
    g_env_read = true;
    g_rank = env.rank;
    if (env.active()) g_comm = std::make_unique<Communicator>(env, device);
  }
  return g_comm.get();
}

Communicator* current_communicator() {
  std::lock_guard<std::mutex> lock(g_comm_mutex);
  return g_comm.get();
}

void leave_job() {
  std::lock_guard<std::mutex> lock(g_comm_mutex);
  g_comm.reset();
}

namespace {
// Depth of run_on_main_process() writers running here (rank 0 alone): sharded work inside one
// runs unsharded (sharded.hpp), since the other ranks are waiting at the barrier.
thread_local int g_main_section_depth = 0;
}  // namespace

bool detail::in_main_process_section() { return g_main_section_depth > 0; }

void run_on_main_process(const std::function<void()>& write) {
  // Nested in another section (rank 0 alone): the outer section's barrier is the one the other
  // ranks wait at; a second one here would pair with it and leave rank 0's outer barrier alone.
  const bool nested = detail::in_main_process_section();
  if (is_main_process()) {
    ++g_main_section_depth;
    try {
      write();
    } catch (...) {
      --g_main_section_depth;
      throw;
    }
    --g_main_section_depth;
  }
  if (nested) return;
  if (Communicator* comm = current_communicator()) comm->finish_main_section();
}

int process_rank() {
  std::lock_guard<std::mutex> lock(g_comm_mutex);
  if (!g_env_read) {
    // Before the job is joined the launcher's RANK already says who writes.
    try {
      return read_distributed_env().rank;
    } catch (const std::exception&) {
      return 0;
    }
  }
  return g_rank;
}

// ---- model state and gradients --------------------------------------------------------------

void broadcast_module(Communicator& comm, torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (auto& p : module.parameters(true)) tensors.push_back(p.detach());
  for (auto& b : module.buffers(true)) tensors.push_back(b);
  comm.broadcast(tensors, 0);
}

void broadcast_buffers(Communicator& comm, torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (auto& b : module.buffers(true)) tensors.push_back(b);
  if (!tensors.empty()) comm.broadcast(tensors, 0);
}

void allreduce_gradients(Communicator& comm, const std::vector<torch::Tensor>& params, double bucket_mb) {
  torch::NoGradGuard no_grad;
  if (params.empty()) return;
  const int64_t bucket_bytes = std::max<int64_t>(1, static_cast<int64_t>(bucket_mb * 1024 * 1024));
  // Which gradients exist on this rank, reduced with the first bucket: a gradient that exists
  // nowhere stays missing (the optimizer then skips that parameter, as in one process).
  // (A CPU tensor, read here; the communicator moves it to NCCL's GPU and back.)
  torch::Tensor present = torch::zeros({static_cast<int64_t>(params.size())}, torch::kFloat32);
  {
    auto acc = present.accessor<float, 1>();
    for (std::size_t i = 0; i < params.size(); ++i) acc[static_cast<int64_t>(i)] = params[i].grad().defined() ? 1.f : 0.f;
  }
  std::vector<torch::Tensor> flags{present};
  comm.allreduce_sum(flags);
  std::vector<std::size_t> members;
  {
    auto acc = flags[0].accessor<float, 1>();
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (acc[static_cast<int64_t>(i)] > 0) members.push_back(i);
    }
  }
  std::size_t i = 0;
  while (i < members.size()) {
    // A bucket: consecutive parameters of one dtype and device, up to bucket_bytes.
    const auto& lead = params[members[i]];
    std::vector<std::size_t> bucket;
    int64_t bytes = 0;
    while (i < members.size()) {
      const auto& p = params[members[i]];
      if (p.scalar_type() != lead.scalar_type() || p.device() != lead.device()) break;
      if (!bucket.empty() && bytes + p.numel() * p.element_size() > bucket_bytes) break;
      bucket.push_back(members[i]);
      bytes += p.numel() * p.element_size();
      ++i;
    }
    std::vector<torch::Tensor> flat;
    for (std::size_t k : bucket) {
      const auto& p = params[k];
      flat.push_back(p.grad().defined() ? p.grad().reshape({-1}) : torch::zeros({p.numel()}, p.options()));
    }
    std::vector<torch::Tensor> joined{torch::cat(flat)};
    comm.allreduce_sum(joined);
    int64_t offset = 0;
    for (std::size_t k : bucket) {
      auto p = params[k];
      torch::Tensor reduced = joined[0].narrow(0, offset, p.numel()).view_as(p);
      if (p.grad().defined()) {
        p.mutable_grad().copy_(reduced);
      } else {
        p.mutable_grad() = reduced.clone(at::MemoryFormat::Preserve);
      }
      offset += p.numel();
    }
  }
}

// ---- sharding -------------------------------------------------------------------------------

BatchPlan shard_plan(const BatchPlan& plan, int rank, int world, const Dataset* patients,
                     std::vector<std::size_t>* offsets) {
  if (offsets) offsets->assign(plan.size(), 0);
  if (world <= 1) return plan;
  if (rank < 0 || rank >= world) throw ValueError("shard_plan: rank " + std::to_string(rank) + " outside the world");
  BatchPlan shards;
  shards.reserve(plan.size());
  for (std::size_t b = 0; b < plan.size(); ++b) {
    const auto& batch = plan[b];
    const auto n = static_cast<int64_t>(batch.size());
    // This rank's contiguous run [begin, end) of the batch.
    auto [begin, end] = contiguous_share(batch.size(), rank, world);
    if (patients) {
      begin = end = 0;
      int64_t start = 0;
      while (start < n) {
        int64_t stop = start + 1;
        const std::string pid = patients->patient_of(batch[static_cast<std::size_t>(start)]);
        while (stop < n && patients->patient_of(batch[static_cast<std::size_t>(stop)]) == pid) ++stop;
        // The rank whose equal-split range holds the middle of this patient's run (owners never
        // decrease along the batch, so each rank's runs are contiguous).
        const int64_t twice_mid = start + stop - 1;
        const int owner = static_cast<int>(std::min<int64_t>(world - 1, twice_mid * world / (2 * n)));
        if (owner < rank) begin = end = static_cast<std::size_t>(stop);
        if (owner == rank) end = static_cast<std::size_t>(stop);
        start = stop;
      }
    }
    shards.emplace_back(batch.begin() + static_cast<std::ptrdiff_t>(begin), batch.begin() + static_cast<std::ptrdiff_t>(end));
    if (offsets) (*offsets)[b] = begin;
  }
  return shards;
}

}  // namespace tomograd::train
