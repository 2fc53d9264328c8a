// Data-parallel training: environment parsing, sharding, and real Gloo jobs of 2 processes on
// 127.0.0.1 (this test binary re-runs itself as the ranks, through the hidden "[.dist_worker]" case).
#include <catch2/catch.hpp>
#include <torch/torch.h>


#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>

#include "support/fixtures.hpp"
#include "support/ranks.hpp"
#include "tomograd/models/batch_norm.hpp"
#include "tomograd/models/dropout.hpp"
#include "tomograd/core/csv.hpp"
#include "tomograd/core/progress.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/train/checkpoint.hpp"
#include "tomograd/train/distributed.hpp"
#include "tomograd/train/trainer.hpp"

using namespace tomograd;
using namespace tomograd::train;
namespace fs = std::filesystem;

namespace {

std::function<const char*(const char*)> env_of(std::map<std::string, std::string> vars) {
  auto held = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [held](const char* name) -> const char* {
    auto it = held->find(name);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

class Samples : public Dataset {
 public:
  Samples() {
    torch::manual_seed(11);
    x_ = torch::randn({24, 4});
    y_ = x_.matmul(torch::tensor({1.0f, -2.0f, 0.5f, 3.0f})).unsqueeze(1);
  }
  std::size_t size() const override { return 24; }
  Sample get(std::size_t i, uint64_t seed) const override {
    Sample s;
    // An augmentation drawn from the sample seed: it must not depend on the rank.
    s.input = x_[static_cast<int64_t>(i)] + 0.001 * static_cast<double>(seed % 13);
    s.target = y_[static_cast<int64_t>(i)];
    // TG_MASKED: missing labels, unevenly spread, so that the ranks' labelled counts are not
    // their sample counts (the global mean divides by the labelled count of the global batch).
    if (std::getenv("TG_MASKED")) s.mask = torch::tensor({i % 5 != 0 && i % 7 != 3});
    s.patient_id = patient_of(i);
    return s;
  }
  std::string patient_of(std::size_t i) const override {
    // TG_PATIENT_LOSS: patients of 1 to 7 samples, so that a mean over patients is not a mean over samples.
    if (std::getenv("TG_PATIENT_LOSS")) return "Q" + std::to_string(i * i / 40);
    return "P" + std::to_string(i / 3);
  }

 private:
  torch::Tensor x_, y_;
};

// With TG_SYNC_BN set: a BatchNorm after fc1, trained with train.sync_batchnorm.
bool with_batchnorm() { return std::getenv("TG_SYNC_BN") != nullptr; }
// With TG_DROPOUT set: dropout after the hidden layer (masks keyed by the global batch).
bool with_dropout() { return std::getenv("TG_DROPOUT") != nullptr; }

struct NetImpl : torch::nn::Module {
  NetImpl() {
    // No bias before a BatchNorm: its true gradient is zero, and Adam would amplify the rounding
    // noise of that zero differently in one and in two processes.
    fc1 = register_module("fc1", torch::nn::Linear(torch::nn::LinearOptions(4, 8).bias(!with_batchnorm())));
    if (with_batchnorm()) bn = register_module("bn", models::BatchNorm1d(8));
    if (with_dropout()) drop = register_module("drop", models::Dropout(0.5));
    fc2 = register_module("fc2", torch::nn::Linear(8, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = fc1(x);
    if (bn) h = bn(h);
    h = torch::tanh(h);
    if (drop) h = drop(h);
    return fc2(h);
  }
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
  models::BatchNorm1d bn{nullptr};
  models::Dropout drop{nullptr};
};
TORCH_MODULE(Net);

// A task's own loss: the mean over the batch's patients of each patient's mean squared error,
// declared as a mean over patients (metastasis's patient loss is of this kind).
LossFn patient_mean_loss() {
  return [](const torch::Tensor& out, const Batch& b) {
    const torch::Tensor se = (out - b.target).pow(2).reshape({-1});
    std::vector<torch::Tensor> means;
    for (std::size_t start = 0, end = 0; start < b.patient_ids.size(); start = end) {
      end = start;
      while (end < b.patient_ids.size() && b.patient_ids[end] == b.patient_ids[start]) ++end;
      means.push_back(se.slice(0, static_cast<int64_t>(start), static_cast<int64_t>(end)).mean());
    }
    declare_mean_over(torch::full({}, static_cast<double>(means.size()), torch::kFloat64));
    return torch::stack(means).mean();
  };
}

// One training run as this process's rank; the worker case and the single-process reference
// both call it.
void train_run(const fs::path& dir, bool patients) {
  torch::set_num_threads(1);
  set_progress_enabled(false);
  Samples data;
  // Each rank seeds differently on purpose: rank 0's initial weights must reach every rank.
  const char* rank = std::getenv("RANK");
  torch::manual_seed(rank ? 100 + std::atoi(rank) : 100);
  Net net;
  OptimOptions o;
  o.name = "adamw";
  o.lr = 1e-2;
  TrainOptions t;
  t.epochs = 3;
  t.device = "cpu";
  t.seed = 9;
  t.show_progress = false;
  t.loader.workers = 1;
  t.sync_batchnorm = with_batchnorm();
  const bool fail = std::getenv("TG_FAIL_RANK") && rank && std::string(std::getenv("TG_FAIL_RANK")) == rank;
  Trainer trainer(
      net.ptr(),
      [net, fail](const Batch& b) mutable {
        // After the job is joined: the peer is then waiting in a collective.
        if (fail) throw Error("deliberate failure for the test");
        return net->forward(b.input);
      },
      std::getenv("TG_PATIENT_LOSS") ? patient_mean_loss() : make_loss(LossOptions{}), o, SchedulerOptions{},
      Curriculum{}, t, dir);
  RandomSampler rs(data.size(), 8, true, 3);
  PatientSamplerOptions po;
  po.patients_per_batch = 3;
  po.seed = 4;
  PatientSampler ps(data, po);
  RandomSampler vs(data.size(), 5, false, 0);
  PatientSampler val_patients(data, po);
  if (std::getenv("TG_PATIENT_LOSS")) trainer.fit(data, ps, &data, &val_patients);
  else if (patients) trainer.fit(data, ps, &data, &vs);
  else trainer.fit(data, rs, &data, &vs);
}

std::vector<torch::Tensor> weights_of(const fs::path& checkpoint) {
  Net net;
  load_checkpoint(checkpoint, *net, nullptr, false);
  std::vector<torch::Tensor> w;
  for (auto& p : net->parameters()) w.push_back(p.detach().clone());
  for (auto& b : net->buffers()) w.push_back(b.detach().clone());  // BatchNorm running statistics
  return w;
}

std::vector<int> run_job(int world, const fs::path& dir, const std::string& extra_env) {
  return test::run_self_as_ranks(world, "[.dist_worker]", dir, extra_env);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("dist worker (run by the data-parallel tests)", "[.dist_worker]") {
  const char* dir = std::getenv("TG_RUN_DIR");
  REQUIRE(dir);
  try {
    train_run(fs::path(dir) / "run", std::getenv("TG_PATIENTS") != nullptr);
  } catch (const std::exception& e) {
    if (auto* c = current_communicator()) c->report_failure(e.what());
    FAIL(e.what());
  }
}

TEST_CASE("the launcher's environment is read like torchrun and srun set it", "[train]") {
  auto e = read_distributed_env(env_of({}));
  CHECK(e.world_size == 1);
  CHECK_FALSE(e.active());
  e = read_distributed_env(env_of({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "node7"},
                                   {"MASTER_PORT", "29555"}, {"TORCHELASTIC_RUN_ID", "x"},
                                   {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "2"},
                                   {"GLOO_SOCKET_IFNAME", "eth1,eth2"}}));
  CHECK(e.rank == 1);
  CHECK(e.world_size == 4);
  CHECK(e.master_addr == "node7");
  CHECK(e.master_port == 29555);
  CHECK(e.agent_store);
  CHECK(e.restart_count == 2);
  CHECK(e.launcher == "torchrun");
  CHECK(e.socket_ifname == "eth1");
  e = read_distributed_env(env_of({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                                   {"SLURM_JOB_NODELIST", "gpu[07-09,12]"}}));
  CHECK(e.rank == 3);
  CHECK(e.world_size == 8);
  CHECK(e.local_rank == 1);
  CHECK(e.master_addr == "gpu07");
  CHECK(e.launcher == "slurm");
  CHECK_THROWS_WITH(read_distributed_env(env_of({{"WORLD_SIZE", "two"}, {"RANK", "0"}})),
                    Catch::Contains("WORLD_SIZE='two'"));
  CHECK_THROWS_WITH(read_distributed_env(env_of({{"WORLD_SIZE", "2"}, {"RANK", "2"}})), Catch::Contains("RANK 2"));
  CHECK_THROWS_WITH(read_distributed_env(env_of({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"TOMOGRAD_DIST_BACKEND", "mpi"}})),
                    Catch::Contains("expected auto, gloo or nccl"));
}

TEST_CASE("the process group: Gloo on the CPU, NCCL on CUDA where built, a clear refusal otherwise", "[train]") {
  const torch::Device cpu(torch::kCPU), gpu(torch::kCUDA, 0);
  CHECK(choose_backend("auto", cpu) == "gloo");
  CHECK(choose_backend("gloo", cpu) == "gloo");
  CHECK(choose_backend("gloo", gpu) == "gloo");
  CHECK(choose_backend("auto", gpu) == (nccl_available() ? "nccl" : "gloo"));
  CHECK_THROWS_WITH(choose_backend("nccl", cpu), Catch::Contains("needs a CUDA device") && Catch::Contains("cpu"));
  if (nccl_available()) {
    CHECK(choose_backend("nccl", gpu) == "nccl");
  } else {
    CHECK_THROWS_WITH(choose_backend("nccl", gpu),
                      Catch::Contains("has no NCCL process group") && Catch::Contains("nccl.h") &&
                          Catch::Contains("set it to gloo"));
  }
  CHECK_THROWS_AS(choose_backend("mpi", cpu), ConfigError);
}

namespace {

/// A job of one rank on @p backend and @p device (Gloo on the CPU, or NCCL on a GPU): every
/// collective runs through the process group, so CPU tensors (staged to NCCL's GPU and back),
/// non-contiguous ones, bool gathers and gradient buckets all pass, and come back unchanged.
void check_one_rank_collectives(const std::string& backend, const torch::Device& device) {
  DistributedEnv env;
  env.master_port = test::free_port();
  env.backend = backend;
  env.timeout = std::chrono::seconds(60);
  Communicator comm(env, device);
  CHECK(comm.backend() == backend);
  const torch::Tensor grid = torch::arange(6, torch::kFloat64).reshape({2, 3});
  std::vector<torch::Tensor> t{grid.t(), torch::full({4}, 2.0f, device)};
  comm.allreduce_sum(t);
  CHECK(t[0].device().is_cpu());
  CHECK(torch::equal(t[0], grid.t()));
  CHECK(t[1].device() == device);
  CHECK(torch::equal(t[1].cpu(), torch::full({4}, 2.0f)));
  comm.broadcast(t, 0);
  CHECK(torch::equal(t[0], grid.t()));
  CHECK(torch::equal(t[1].cpu(), torch::full({4}, 2.0f)));
  const torch::Tensor flags = comm.allgather_cat(torch::tensor({true, false, true}));
  CHECK(flags.device().is_cpu());
  CHECK(torch::equal(flags, torch::tensor({true, false, true})));
  const torch::Tensor rows = torch::randn({3, 2}, device);
  CHECK(torch::equal(comm.allgather_cat(rows), rows.cpu()));
  CHECK_FALSE(comm.allgather_cat(torch::Tensor()).defined());
  torch::nn::Linear layer(3, 2);
  layer->to(device);
  layer(torch::randn({5, 3}, device)).sum().backward();
  const torch::Tensor before = layer->weight.grad().clone();
  allreduce_gradients(comm, layer->parameters());
  CHECK(torch::equal(layer->weight.grad(), before));
  CHECK(torch::equal(layer->bias.grad(), torch::full({2}, 5.0f, device)));
  comm.barrier();
}

}  // namespace

TEST_CASE("a Gloo process group of one rank: every collective round-trips", "[train]") {
  check_one_rank_collectives("gloo", torch::kCPU);
}

TEST_CASE("a process joining a job at its port as a rank already there, or with another world size, is refused",
          "[train]") {
  DistributedEnv e0;
  e0.world_size = 2;
  e0.master_port = test::free_port();
  e0.timeout = std::chrono::seconds(60);
  DistributedEnv e1 = e0;
  e1.rank = 1;
  std::unique_ptr<Communicator> c0, c1;
  // Rank 0's part on a thread while this one plays rank 1, together; rank 0's error, if any, is
  // the result (an exception must not leave the thread).
  const auto with_rank0 = [](const std::function<void()>& rank0, const std::function<void()>& rank1) {
    std::string error;
    std::thread t([&] {
      try {
        rank0();
      } catch (const std::exception& e) {
        error = e.what();
      }
    });
    rank1();
    t.join();
    return error;
  };
  REQUIRE(with_rank0([&] { c0 = std::make_unique<Communicator>(e0, torch::kCPU); },
                     [&] { c1 = std::make_unique<Communicator>(e1, torch::kCPU); }) == "");
  // Another job's rank 1 started at this job's port (or RANK=1 given twice): refused before it
  // can take part in the process group.
  const std::string port = std::to_string(e0.master_port);
  CHECK_THROWS_WITH(Communicator(e1, torch::kCPU),
                    Catch::Contains("rank 1 of 2: another process already joined the job at 127.0.0.1:" + port +
                                    " as rank 1") &&
                        Catch::Contains("give each job its own port"));
  DistributedEnv larger = e0;
  larger.world_size = 3;
  larger.rank = 2;
  CHECK_THROWS_WITH(Communicator(larger, torch::kCPU),
                    Catch::Contains("rank 2 of 3 joins with gloo on the CPU in a job of 3 processes but rank 0 with "
                                    "gloo on the CPU in a job of 2 processes"));
  // The job itself goes on.
  std::vector<torch::Tensor> one{torch::ones({2})}, two{torch::ones({2})};
  REQUIRE(with_rank0([&] { c0->allreduce_sum(one); }, [&] { c1->allreduce_sum(two); }) == "");
  CHECK(torch::equal(one[0], torch::full({2}, 2.0f)));
  CHECK(torch::equal(two[0], torch::full({2}, 2.0f)));
}

TEST_CASE("an NCCL process group of one rank: CPU and CUDA tensors through its collectives", "[train][gpu][nccl]") {
  if (!nccl_available() || compat::cuda_device_count() == 0) {
    WARN("no NCCL build or no CUDA device: [nccl] test skipped");
    return;
  }
  // Two ranks cannot share one GPU under NCCL, so a one-GPU machine checks one rank.
  check_one_rank_collectives("nccl", torch::Device(torch::kCUDA, 0));
}

TEST_CASE("every rank's share of the global batches covers each sample once, for any world size", "[train]") {
  Samples data;
  RandomSampler rs(data.size(), 8, true, 3);
  PatientSamplerOptions po;
  po.patients_per_batch = 3;
  po.seed = 4;
  PatientSampler ps(data, po);
  for (const Sampler* sampler : {static_cast<const Sampler*>(&rs), static_cast<const Sampler*>(&ps)}) {
    const BatchPlan global = sampler->plan(2);
    for (int world : {1, 2, 3}) {
      for (std::size_t b = 0; b < global.size(); ++b) {
        std::multiset<std::size_t> joined;
        std::vector<std::size_t> in_order;
        for (int r = 0; r < world; ++r) {
          std::vector<std::size_t> offsets;
          const BatchPlan share =
              shard_plan(global, r, world, sampler->patient_grouped() ? &data : nullptr, &offsets);
          REQUIRE(share.size() == global.size());
          // Where this rank's share starts in the global batch: after the lower ranks' shares.
          CHECK(offsets.at(b) == in_order.size());
          joined.insert(share[b].begin(), share[b].end());
          in_order.insert(in_order.end(), share[b].begin(), share[b].end());
          // Whole patients per rank.
          if (sampler->patient_grouped()) {
            for (std::size_t i : share[b]) {
              for (int other = 0; other < world; ++other) {
                if (other == r) continue;
                const BatchPlan theirs = shard_plan(global, other, world, &data);
                for (std::size_t j : theirs[b]) CHECK(data.patient_of(i) != data.patient_of(j));
              }
            }
          }
        }
        // The ranks' shares, in rank order, are exactly the global batch.
        CHECK(in_order == global[b]);
        CHECK(joined.size() == global[b].size());
      }
    }
  }
}

TEST_CASE("two Gloo processes train to the same weights as one process", "[train][slow]") {
  // Sample batches, patient-grouped batches (unequal shares), and a BatchNorm layer trained with
  // train.sync_batchnorm: statistics of the global batch, so one process with the whole batch
  // is the reference. With dropout (TG_DROPOUT), a sample's masks are the same on 1 and 2 ranks.
  // A loss that is a mean over patients of unequal sizes (TG_PATIENT_LOSS) declares its count.
  // With missing labels (TG_MASKED) each rank's share of the loss is its labelled part of the
  // global batch, not its sample count.
  for (const std::string env : {"", "TG_PATIENTS=1", "TG_SYNC_BN=1", "TG_PATIENTS=1 TG_SYNC_BN=1", "TG_MASKED=1",
                                "TG_MASKED=1 TG_PATIENTS=1", "TG_DROPOUT=1", "TG_DROPOUT=1 TG_PATIENTS=1",
                                "TG_PATIENT_LOSS=1"}) {
    INFO("environment: " << env);
    test::TempDir tmp;
    fs::create_directories(tmp / "one");
    fs::create_directories(tmp / "two");
    // The reference: one process (no WORLD_SIZE), through the same worker code.
    REQUIRE(run_job(1, tmp / "one", env) == std::vector<int>{0});
    const auto codes = run_job(2, tmp / "two", env);
    INFO(read_text(tmp / "two" / "rank0.log") + read_text(tmp / "two" / "rank1.log"));
    REQUIRE(codes == std::vector<int>({0, 0}));
    CHECK(read_text(tmp / "two" / "rank0.log").find("rank 0 of 2") != std::string::npos);
    if (env.find("TG_SYNC_BN") != std::string::npos) setenv("TG_SYNC_BN", "1", 1);
    const auto a = weights_of(tmp / "one" / "run" / "checkpoints" / "last.pt");
    const auto b = weights_of(tmp / "two" / "run" / "checkpoints" / "last.pt");
    unsetenv("TG_SYNC_BN");
    REQUIRE(a.size() == b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
      INFO("parameter " << i << " max difference " << (a[i] - b[i]).abs().max().item<float>());
      CHECK(torch::allclose(a[i], b[i], 1e-5, 1e-6));
    }
    // The same history (validation is sharded and gathered), up to summation order.
    const auto h1 = read_text(tmp / "one" / "run" / "history.csv");
    const auto h2 = read_text(tmp / "two" / "run" / "history.csv");
    CHECK(h1.substr(0, h1.find('\n')) == h2.substr(0, h2.find('\n')));
    const CsvTable t1 = CsvTable::read(tmp / "one" / "run" / "history.csv");
    const CsvTable t2 = CsvTable::read(tmp / "two" / "run" / "history.csv");
    for (const char* column : {"train_loss", "val_loss"}) {
      const auto v1 = t1.numbers(column), v2 = t2.numbers(column);
      REQUIRE(v1.size() == v2.size());
      for (std::size_t e = 0; e < v1.size(); ++e) {
        INFO(column << " epoch " << e + 1);
        CHECK(v2[e] == Approx(v1[e]).epsilon(1e-5));
      }
    }
  }
}

TEST_CASE("a failing rank makes every rank exit non-zero, naming the rank", "[train][slow]") {
  test::TempDir tmp;
  const auto t0 = std::chrono::steady_clock::now();
  const auto codes = run_job(2, tmp.path(), "TG_FAIL_RANK=1");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string log0 = read_text(tmp / "rank0.log"), log1 = read_text(tmp / "rank1.log");
  INFO(log0 + log1);
  CHECK(codes[0] != 0);
  CHECK(codes[1] != 0);
  CHECK(seconds < 60);  // well inside the 60 s collective timeout given to the job
  CHECK(log1.find("deliberate failure") != std::string::npos);
  CHECK(log0.find("rank 1") != std::string::npos);
}
