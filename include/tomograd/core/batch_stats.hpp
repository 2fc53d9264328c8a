#pragma once
/// @file The process-wide all-reduce that layers needing statistics of the whole global batch use
/// (synchronized BatchNorm, train.sync_batchnorm). The train layer installs it for a data-parallel
/// run; models read it. Empty in a single process and by default.
#include <torch/torch.h>

#include <functional>
#include <vector>

namespace tomograd {

/// Sums every tensor element-wise over the processes of the job, in place.
using AllReduceSum = std::function<void(std::vector<torch::Tensor>&)>;

/// Installs (or, given an empty function, removes) the all-reduce of batch statistics.
void set_batch_stats_allreduce(AllReduceSum fn);
/// The installed all-reduce; empty when none.
const AllReduceSum& batch_stats_allreduce();

/// Installs @p fn for its lifetime and restores the previous one after.
class BatchStatsAllReduceScope {
 public:
  explicit BatchStatsAllReduceScope(AllReduceSum fn);
  ~BatchStatsAllReduceScope();
  BatchStatsAllReduceScope(const BatchStatsAllReduceScope&) = delete;
  BatchStatsAllReduceScope& operator=(const BatchStatsAllReduceScope&) = delete;

 private:
  AllReduceSum previous_;
};

}  // namespace tomograd
