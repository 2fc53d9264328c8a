#pragma once
/// @file A small parallel-for over indices with exception propagation.
#include <cstddef>
#include <functional>
#include <utility>
#include <vector>

namespace tomograd {

/// Number of CPUs this process may run on (its affinity mask, e.g. under taskset or a cgroup
/// cpuset; else all hardware threads), at least 1. Read once, at the first call.
int hardware_threads();

/// Physical cores among the CPUs this process may run on: the hardware threads of one core (SMT,
/// "hyper-threading") count once, by their (package, core) ids in /sys/devices/system/cpu; a CPU
/// whose topology cannot be read counts as a core of its own. At least 1. Read once.
int physical_cores();

/// The number of distinct (package, core) pairs in @p topology (one pair per usable CPU).
int count_physical_cores(const std::vector<std::pair<int, int>>& topology);

/// Calls @p fn(i) for i in [0, n) on up to @p threads threads (<= 0: all hardware threads).
/// Work is handed out dynamically. The first exception thrown by @p fn is rethrown here after all
/// threads stopped; remaining indices are skipped once an exception occurred.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn);

}  // namespace tomograd
