// The launcher's environment (torchrun, Slurm, or RANK/WORLD_SIZE by hand) and the choice of a
// process-group backend: no c10d headers here (distributed.cpp holds them).
#include <cstdlib>

#include "tomograd/train/distributed.hpp"

namespace tomograd::train {

// ---- environment ----------------------------------------------------------------------------

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

namespace {

std::optional<std::string> env_value(const std::function<const char*(const char*)>& getenv, const char* name) {
  const char* v = getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int env_int(const std::function<const char*(const char*)>& getenv, const char* name, int fallback, int min_value) {
  const auto v = env_value(getenv, name);
  if (!v) return fallback;
  std::size_t used = 0;
  long n = 0;
  try {
    n = std::stol(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v->size() || n < min_value || n > 1 << 20) {
    throw ConfigError(std::string("environment variable ") + name + "='" + *v + "': expected an integer >= " +
                      std::to_string(min_value));
  }
  return static_cast<int>(n);
}

// SLURM_JOB_NODELIST "gpu07" or "gpu[07-09,12]": the first host, when it can be read without
// scontrol. A list that cannot be expanded here needs MASTER_ADDR.
std::optional<std::string> first_slurm_host(const std::string& list) {
  const auto bracket = list.find('[');
  const auto comma = list.find(',');
  if (bracket == std::string::npos) return list.substr(0, comma);
  if (comma != std::string::npos && comma < bracket) return list.substr(0, comma);
  const std::string prefix = list.substr(0, bracket);
  const auto end = list.find_first_of("-,]", bracket + 1);
  if (end == std::string::npos) return std::nullopt;
  return prefix + list.substr(bracket + 1, end - bracket - 1);
}

void check_backend_name(const std::string& backend) {
  if (backend != "auto" && backend != "gloo" && backend != "nccl") {
    throw ConfigError("TOMOGRAD_DIST_BACKEND='" + backend + "': expected auto, gloo or nccl");
  }
}

}  // namespace

DistributedEnv read_distributed_env(const std::function<const char*(const char*)>& getenv_in) {
  const std::function<const char*(const char*)> getenv =
      getenv_in ? getenv_in : [](const char* name) { return std::getenv(name); };
  DistributedEnv e;
  if (env_value(getenv, "WORLD_SIZE")) {
    e.world_size = env_int(getenv, "WORLD_SIZE", 1, 1);
    e.rank = env_int(getenv, "RANK", -1, 0);
    if (e.world_size > 1 && e.rank < 0) throw ConfigError("WORLD_SIZE is set but RANK is not: set both (torchrun does)");
    e.rank = std::max(e.rank, 0);
    e.local_rank = env_int(getenv, "LOCAL_RANK", 0, 0);
    e.launcher = env_value(getenv, "TORCHELASTIC_RUN_ID") ? "torchrun" : "env";
  } else if (env_value(getenv, "SLURM_NTASKS") && env_value(getenv, "SLURM_PROCID")) {
    e.world_size = env_int(getenv, "SLURM_NTASKS", 1, 1);
    e.rank = env_int(getenv, "SLURM_PROCID", 0, 0);
    e.local_rank = env_int(getenv, "SLURM_LOCALID", 0, 0);
    e.launcher = "slurm";
    if (e.world_size > 1 && !env_value(getenv, "MASTER_ADDR")) {
      const auto nodes = env_value(getenv, "SLURM_JOB_NODELIST");
      const auto host = nodes ? first_slurm_host(*nodes) : std::nullopt;
      if (!host) {
        throw ConfigError("Slurm job of " + std::to_string(e.world_size) +
                          " tasks: set MASTER_ADDR (e.g. export MASTER_ADDR=$(scontrol show hostnames "
                          "\"$SLURM_JOB_NODELIST\" | head -n 1))");
      }
      e.master_addr = *host;
    }
  }
  if (e.rank >= e.world_size) {
    throw ConfigError("RANK " + std::to_string(e.rank) + " is not below WORLD_SIZE " + std::to_string(e.world_size));
  }
  if (const auto addr = env_value(getenv, "MASTER_ADDR")) e.master_addr = *addr;
  e.master_port = env_int(getenv, "MASTER_PORT", e.master_port, 1);
  if (e.master_port > 65535) throw ConfigError("MASTER_PORT=" + std::to_string(e.master_port) + ": expected 1..65535");
  if (const auto agent = env_value(getenv, "TORCHELASTIC_USE_AGENT_STORE")) {
    e.agent_store = *agent == "True" || *agent == "true" || *agent == "1";
  }
  e.restart_count = env_int(getenv, "TORCHELASTIC_RESTART_COUNT", 0, 0);
  if (const auto ifname = env_value(getenv, "GLOO_SOCKET_IFNAME")) e.socket_ifname = ifname->substr(0, ifname->find(','));
  if (const auto backend = env_value(getenv, "TOMOGRAD_DIST_BACKEND")) e.backend = *backend;
  check_backend_name(e.backend);
  e.timeout = std::chrono::seconds(env_int(getenv, "TOMOGRAD_DIST_TIMEOUT_S", static_cast<int>(e.timeout.count()), 1));
  return e;
}

// ---- backend ----------------------------------------------------------------------------------

bool nccl_available() {
#ifdef TOMOGRAD_WITH_NCCL
  return true;
#else
  return false;
#endif
}

std::string choose_backend(const std::string& requested, const torch::Device& device) {
  check_backend_name(requested);
  if (requested == "gloo") return "gloo";
  if (requested == "auto") return device.is_cuda() && nccl_available() ? "nccl" : "gloo";
  if (!device.is_cuda()) {
    throw DistributedError("TOMOGRAD_DIST_BACKEND=nccl needs a CUDA device, and this rank trains on " + device.str() +
                           " (set train.device to cuda or auto on a GPU machine, or use gloo on the CPU)");
  }
  if (!nccl_available()) {
    throw DistributedError(
        "TOMOGRAD_DIST_BACKEND=nccl: this build of tomograd has no NCCL process group. It needs a CUDA LibTorch "
        "built with NCCL (TOMOGRAD_TORCH=python with a CUDA PyTorch) and nccl.h at configure time (the nvidia-nccl "
        "wheel, a CUDA toolkit, or -DNCCL_INCLUDE_DIR=...; docs/distributed.md). Gloo also reduces CUDA tensors, "
        "through host memory: unset TOMOGRAD_DIST_BACKEND or set it to gloo");
  }
  return "nccl";
}

}  // namespace tomograd::train
