#include "tomograd/core/parallel.hpp"

#ifdef __linux__
#include <sched.h>
#endif

#include <algorithm>
#include <atomic>
#include <exception>
#include <fstream>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace tomograd {

namespace {

/// The CPUs of this process's affinity mask (taskset, cgroup cpusets, `docker --cpuset-cpus`);
/// empty where it cannot be read.
std::vector<int> affinity_cpus() {
  std::vector<int> cpus;
#ifdef __linux__
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
    }
  }
#endif
  return cpus;
}

}  // namespace

int hardware_threads() {
  // The CPUs this process may run on, not every CPU of the machine: starting more threads than
  // that only makes them take turns.
  static const int n = [] {
    const std::size_t allowed = affinity_cpus().size();
    if (allowed > 0) return static_cast<int>(allowed);
    const unsigned all = std::thread::hardware_concurrency();
    return all == 0 ? 1 : static_cast<int>(all);
  }();
  return n;
}

int count_physical_cores(const std::vector<std::pair<int, int>>& topology) {
  const std::set<std::pair<int, int>> cores(topology.begin(), topology.end());
  return std::max(1, static_cast<int>(cores.size()));
}

int physical_cores() {
  static const int n = [] {
    std::vector<std::pair<int, int>> topology;
    for (int cpu : affinity_cpus()) {
      const std::string dir = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
      int package = -1, core = -1;
      std::ifstream(dir + "physical_package_id") >> package;
      std::ifstream(dir + "core_id") >> core;
      // Unreadable (a container without /sys): the CPU is its own core, as if without SMT.
      if (package < 0 || core < 0) topology.emplace_back(-1 - cpu, cpu);
      else topology.emplace_back(package, core);
    }
    return topology.empty() ? hardware_threads() : count_physical_cores(topology);
  }();
  return n;
}

void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn) {
  if (n == 0) return;
  std::size_t workers = threads <= 0 ? static_cast<std::size_t>(hardware_threads())
                                     : static_cast<std::size_t>(threads);
  workers = std::min(workers, n);
  if (workers <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (;;) {
      std::size_t i = next.fetch_add(1);
      if (i >= n || failed) return;
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
        return;
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (std::size_t t = 0; t + 1 < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace tomograd
