// train::parse_device: the --device / train.device names, "auto" following the machine, and
// errors that name what is missing when CUDA is asked for where there is none.
#include <catch2/catch.hpp>

#include <c10/core/impl/DeviceGuardImplInterface.h>

#include <cstdlib>
#include <map>

#include "tomograd/core/error.hpp"
#include "tomograd/core/torch_compat.hpp"
#include "tomograd/train/device.hpp"

using namespace tomograd;

namespace {

/// The message of the ValueError that parse_device(@p name) throws (fails the test if none).
std::string device_error(const std::string& name) {
  try {
    train::parse_device(name);
  } catch (const ValueError& e) {
    return e.what();
  }
  FAIL("parse_device('" << name << "') did not throw a ValueError");
  return {};
}

}  // namespace

TEST_CASE("parse_device: cpu, and auto follows the CUDA devices present", "[train]") {
  CHECK(train::parse_device("cpu") == torch::Device(torch::kCPU));
  const torch::Device automatic = train::parse_device("auto");
  if (compat::cuda_device_count() > 0) {
    CHECK(automatic == torch::Device(torch::kCUDA, 0));
  } else {
    CHECK(automatic == torch::Device(torch::kCPU));
  }
}

TEST_CASE("parse_device: names that are no device are refused with the accepted forms", "[train]") {
  for (const char* bad : {"", "gpu", "CUDA", "Cpu", "cuda:", "cuda:x", "cuda:-1", "cuda:1a", "cuda0", "cuda: 1",
                          "cuda:123456789012", "mps"}) {
    INFO("device name '" << bad << "'");
    const std::string message = device_error(bad);
    CHECK_THAT(message, Catch::Contains("invalid device '" + std::string(bad) + "'"));
    CHECK_THAT(message, Catch::Contains("expected auto, cpu, cuda or cuda:N"));
  }
}

TEST_CASE("parse_device: CUDA asked for where it is missing names what is missing", "[train]") {
  const int count = compat::cuda_device_count();
  // One past the last device is never available; on a CPU-only machine neither is cuda / cuda:0.
  const std::string past_last = "cuda:" + std::to_string(count);
  const std::string message = device_error(past_last);
  CHECK_THAT(message, Catch::Contains("device '" + past_last + "' is not available"));
  if (!c10::impl::hasDeviceGuardImpl(c10::DeviceType::CUDA)) {
    // A CPU-only LibTorch (Debian's): the build, not the machine, lacks CUDA.
    CHECK_THAT(message, Catch::Contains("without CUDA"));
    CHECK_THAT(message, Catch::Contains(compat::torch_version()));
    CHECK_THAT(device_error("cuda"), Catch::Contains("without CUDA"));
    CHECK_THAT(device_error("cuda:0"), Catch::Contains("without CUDA"));
  } else if (count == 0) {
    CHECK_THAT(message, Catch::Contains("sees no GPU"));
  } else {
    CHECK_THAT(message, Catch::Contains(std::to_string(count) + " CUDA device(s)"));
  }
}

TEST_CASE("parse_device: cuda and cuda:N on a CUDA machine", "[train][gpu]") {
  const int count = compat::cuda_device_count();
  if (count == 0) {
    WARN("no CUDA device: [gpu] test skipped");
    return;
  }
  CHECK(train::parse_device("cuda") == torch::Device(torch::kCUDA, 0));
  CHECK(train::parse_device("auto") == torch::Device(torch::kCUDA, 0));
  const std::string last = "cuda:" + std::to_string(count - 1);
  CHECK(train::parse_device(last) == torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(count - 1)));
}

TEST_CASE("resolve_device: in a data-parallel job auto and cuda take the local rank's GPU", "[train]") {
  using train::resolve_device;
  const auto gpu = [](int i) { return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)); };
  const torch::Device cpu(torch::kCPU);
  // One process: the first GPU.
  CHECK(resolve_device("auto", 4, std::nullopt) == gpu(0));
  CHECK(resolve_device("cuda", 4, std::nullopt) == gpu(0));
  // torchrun --nproc-per-node=4: local rank r on GPU r.
  for (int r = 0; r < 4; ++r) {
    CHECK(resolve_device("auto", 4, r) == gpu(r));
    CHECK(resolve_device("cuda", 4, r) == gpu(r));
  }
  // srun --gpus-per-task=1: each task sees its own GPU, as cuda:0.
  CHECK(resolve_device("cuda", 1, 3) == gpu(0));
  // More ranks than GPUs: they share, in turn.
  CHECK(resolve_device("auto", 2, 3) == gpu(1));
  // A device written out is taken as written; the CPU stays the CPU; no GPU: auto is the CPU.
  CHECK(resolve_device("cuda:1", 4, 3) == gpu(1));
  CHECK(resolve_device("cpu", 4, 2) == cpu);
  CHECK(resolve_device("auto", 0, 2) == cpu);
  CHECK_THROWS_WITH(resolve_device("cuda", 0, 1), Catch::Contains("device 'cuda' is not available"));
  CHECK_THROWS_WITH(resolve_device("cuda:4", 4, 0), Catch::Contains("device 'cuda:4' is not available"));
  CHECK_THROWS_WITH(resolve_device("gpu", 4, 0), Catch::Contains("invalid device 'gpu'"));
}

TEST_CASE("parse_device: a rank of a job takes its LOCAL_RANK's GPU", "[train][gpu]") {
  const int count = compat::cuda_device_count();
  if (count == 0) {
    WARN("no CUDA device: [gpu] test skipped");
    return;
  }
  // As torchrun starts local rank 1 (nothing joins a job: parse_device only reads the variables).
  struct Env {
    Env() {
      setenv("WORLD_SIZE", "2", 1);
      setenv("RANK", "1", 1);
      setenv("LOCAL_RANK", "1", 1);
    }
    ~Env() {
      for (const char* name : {"WORLD_SIZE", "RANK", "LOCAL_RANK"}) unsetenv(name);
    }
  } env;
  const auto expected = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(1 % count));
  CHECK(train::parse_device("cuda") == expected);
  CHECK(train::parse_device("auto") == expected);
  CHECK(train::parse_device("cuda:0") == torch::Device(torch::kCUDA, 0));
}

TEST_CASE("default CPU threads: one per physical core, shared by a job's local ranks, OMP_NUM_THREADS wins",
          "[train]") {
  using Env = std::map<std::string, std::string>;
  auto threads = [](int cores, const Env& env) {
    return train::default_cpu_threads(cores, [&env](const char* name) -> const char* {
      auto it = env.find(name);
      return it == env.end() ? nullptr : it->second.c_str();
    });
  };
  // A single process takes every core (LibTorch alone would take half of a machine without SMT).
  CHECK(threads(8, {}) == 8);
  CHECK(threads(0, {}) == 1);
  // OMP_NUM_THREADS: LibTorch reads it, nothing is changed.
  CHECK(threads(8, {{"OMP_NUM_THREADS", "3"}}) == 0);
  // torchrun --nproc-per-node=4 on 8 cores: 2 each, whatever the world size of the job.
  CHECK(threads(8, {{"LOCAL_WORLD_SIZE", "4"}, {"WORLD_SIZE", "16"}, {"MASTER_ADDR", "node1"}}) == 2);
  CHECK(threads(2, {{"LOCAL_WORLD_SIZE", "4"}}) == 1);
  // RANK/WORLD_SIZE by hand on one machine (a loopback MASTER_ADDR): all ranks are local.
  CHECK(threads(8, {{"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}}) == 4);
  CHECK(threads(8, {{"WORLD_SIZE", "4"}, {"MASTER_ADDR", "localhost"}}) == 2);
  // Another host, or Slurm (srun binds each task to its own CPUs, already counted): not divided.
  CHECK(threads(8, {{"WORLD_SIZE", "4"}, {"MASTER_ADDR", "10.0.0.5"}}) == 8);
  CHECK(threads(8, {{"SLURM_NTASKS", "4"}, {"SLURM_PROCID", "1"}}) == 8);
  // A malformed LOCAL_WORLD_SIZE divides nothing (the job's own checks name it).
  CHECK(threads(8, {{"LOCAL_WORLD_SIZE", "four"}}) == 8);
}
