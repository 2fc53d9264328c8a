// The process-wide all-reduce of batch statistics (see batch_stats.hpp).
#include "tomograd/core/batch_stats.hpp"

#include <utility>

namespace tomograd {

namespace {
AllReduceSum& slot() {
  static AllReduceSum fn;
  return fn;
}
}  // namespace

void set_batch_stats_allreduce(AllReduceSum fn) { slot() = std::move(fn); }

const AllReduceSum& batch_stats_allreduce() { return slot(); }

BatchStatsAllReduceScope::BatchStatsAllReduceScope(AllReduceSum fn) : previous_(slot()) { slot() = std::move(fn); }

BatchStatsAllReduceScope::~BatchStatsAllReduceScope() { slot() = std::move(previous_); }

}  // namespace tomograd
