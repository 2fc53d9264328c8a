#pragma once
/// @file A small parallel-for over indices with exception propagation.
#include <cstddef>
#include <functional>

namespace tomograd {

/// Number of CPUs this process may run on (its affinity mask, e.g. under taskset or a cgroup
/// cpuset; else all hardware threads), at least 1. Read once, at the first call.
int hardware_threads();

/// Calls @p fn(i) for i in [0, n) on up to @p threads threads (<= 0: all hardware threads).
/// Work is handed out dynamically. The first exception thrown by @p fn is rethrown here after all
/// threads stopped; remaining indices are skipped once an exception occurred.
void parallel_for(std::size_t n, int threads, const std::function<void(std::size_t)>& fn);

}  // namespace tomograd
