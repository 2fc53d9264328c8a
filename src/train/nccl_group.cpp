// LibTorch's NCCL process group. ProcessGroupNCCL.hpp is empty unless USE_C10D_NCCL is defined,
// which neither LibTorch's CMake config nor ours does for every unit (this one includes the NCCL
// and CUDA headers; CMake compiles it outside unity batches).
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#include "nccl_group.hpp"

#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <cstdlib>

namespace tomograd::train::detail {

c10::intrusive_ptr<compat::ProcessGroupBase> make_nccl_group(const c10::intrusive_ptr<c10d::Store>& store, int rank,
                                                             int world, std::chrono::milliseconds timeout) {
  // Without blocking wait, wait() only orders the CUDA streams and a dead peer leaves this rank
  // hanging in the next synchronisation; with it, wait() throws after the timeout, which the
  // Communicator turns into the failing rank's message. A value the user set is kept.
  // LibTorch 2.2+ reads both names, the new one first: a user's old-name setting stands too.
  if (!std::getenv("TORCH_NCCL_BLOCKING_WAIT") && !std::getenv("NCCL_BLOCKING_WAIT")) {
    setenv(compat::kNcclBlockingWaitEnv, "1", /*overwrite=*/0);
  }
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, options);
}

}  // namespace tomograd::train::detail
