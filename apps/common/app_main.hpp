#pragma once
// app_cli.hpp for the apps that link LibTorch: a c10::Error becomes one line (its C++ stack trace
// goes to the debug log only) and, in a data-parallel job, the other ranks learn which rank failed.
#include <c10/util/Exception.h>

#include "app_cli.hpp"
#include "tomograd/train/device.hpp"
#include "tomograd/train/distributed.hpp"

namespace tomograd::app {

/// run_app_with() with LibTorch's errors translated and failures reported to the peers.
inline int run_app(CLI::App& app, int argc, char** argv) {
  FailureHooks hooks;
  hooks.translate = []() -> std::optional<std::string> {
    try {
      throw;
    } catch (const c10::Error& e) {
      logger()->debug("LibTorch's trace of the failure below:\n{}", e.what());
      return std::string("LibTorch failed: ") + e.what_without_backtrace();
    } catch (...) {
      return std::nullopt;
    }
  };
  hooks.notify = [](const std::string& line) {
    if (auto* comm = train::current_communicator()) comm->report_failure(line);
  };
  // One intra-op thread per physical core (shared by a job's local ranks), not LibTorch's half of
  // the hardware threads, unless OMP_NUM_THREADS says otherwise.
  train::apply_default_cpu_threads();
  const int status = run_app_with(app, argc, argv, hooks);
  train::leave_job();
  return status;
}

}  // namespace tomograd::app
